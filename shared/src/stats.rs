//! The daily statistics (`GET /api/stats`) as data: messages per quarter hour and the
//! conversations whose newest message falls in each quarter hour, kept in UTC so that no
//! writer needs a zone, and summed for the days of whatever zone the reader shows.
//!
//! Each conversation item records what it adds (`StatsShare`, its `stats` attribute), so
//! every writer adds to the hour items exactly the difference between what the item added
//! before (pinned by the write's condition) and after, as the tally does. Quarter hours
//! older than `WINDOW_SECONDS` at a write are left out of both: the oldest a read asks for
//! (the start of the zone's day six days ago) is younger than that at every write before
//! the read, so every bucket a read sums took every change it had.

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::tz::TimeZone;

/// A bucket's length: quarter hours, so that zones offset by 30 or 45 minutes get their
/// own days exactly.
pub const QUARTER_SECONDS: i64 = 900;
/// Quarters in an hour item.
pub const QUARTERS: usize = 4;
/// How far back a write keeps buckets: eight days, a day more than a read asks for.
pub const WINDOW_SECONDS: i64 = 8 * 86_400;
/// Days of `daily_messages`, today last.
pub const DAYS: usize = 7;

/// A quarter hour: its index since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bucket(pub i64);

impl Bucket {
    pub fn of(t: Timestamp) -> Bucket {
        Bucket(t.as_second().div_euclid(QUARTER_SECONDS))
    }

    /// The start of its hour, in Unix seconds (the hour item's `hour`).
    pub fn hour(self) -> i64 {
        self.0.div_euclid(QUARTERS as i64) * QUARTERS as i64 * QUARTER_SECONDS
    }

    /// Which quarter of its hour, 0 to 3.
    pub fn quarter(self) -> usize {
        self.0.rem_euclid(QUARTERS as i64) as usize
    }
}

/// The oldest bucket a write at `now` keeps.
pub fn oldest_kept(now: Timestamp) -> Bucket {
    Bucket(Bucket::of(now).0 - WINDOW_SECONDS / QUARTER_SECONDS)
}

/// What one conversation item adds to the statistics: its messages per bucket, and the
/// bucket of its newest message (buckets older than the window are dropped).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsShare {
    pub newest: Option<Bucket>,
    pub messages: BTreeMap<Bucket, i64>,
    /// Only part of its messages are in it yet: a share too large for one transaction is
    /// added in several, and until the last one it says so, for the backfill to finish.
    pub partial: bool,
}

impl StatsShare {
    /// The share of a conversation whose messages were sent at `times` (any order).
    pub fn of(times: impl IntoIterator<Item = Timestamp>, now: Timestamp) -> StatsShare {
        let mut share = StatsShare::default();
        let mut newest: Option<Timestamp> = None;
        for t in times {
            share.count(t, 1, now);
            newest = newest.max(Some(t));
        }
        share.set_newest(newest, now);
        share
    }

    /// Adds `by` messages sent at `t` (nothing when `t` is older than the window).
    pub fn count(&mut self, t: Timestamp, by: i64, now: Timestamp) {
        let bucket = Bucket::of(t);
        if bucket < oldest_kept(now) {
            return;
        }
        let n = self.messages.entry(bucket).or_default();
        *n += by;
        if *n == 0 {
            self.messages.remove(&bucket);
        }
    }

    /// Its newest message was sent at `t` (`None`: it has none).
    pub fn set_newest(&mut self, t: Option<Timestamp>, now: Timestamp) {
        self.newest = t.map(Bucket::of).filter(|b| *b >= oldest_kept(now));
    }

    /// The share without the buckets a write at `now` no longer keeps.
    pub fn kept(&self, now: Timestamp) -> StatsShare {
        let oldest = oldest_kept(now);
        StatsShare {
            newest: self.newest.filter(|b| *b >= oldest),
            messages: self.messages.range(oldest..).map(|(b, n)| (*b, *n)).collect(),
            partial: self.partial,
        }
    }

    /// The next share on the way from this one to `target` that a write changing at most
    /// `room` hour items (at least 3) may record: `target` itself when it fits, else this
    /// one with `target`'s counts in its first `room` − 2 hours that differ, `partial`.
    pub fn toward(&self, target: &StatsShare, room: usize, now: Timestamp) -> StatsShare {
        let (from, target) = (self.kept(now), target.kept(now));
        let hours = change(&from, &target, now);
        if hours.len() <= room {
            return target;
        }
        let mut next = StatsShare {
            partial: true,
            ..from
        };
        for hour in hours.iter().take(room.saturating_sub(2).max(1)) {
            for q in 0..QUARTERS as i64 {
                let bucket = Bucket(hour.hour / QUARTER_SECONDS + q);
                match target.messages.get(&bucket) {
                    Some(n) => next.messages.insert(bucket, *n),
                    None => next.messages.remove(&bucket),
                };
            }
        }
        next
    }

    /// As the item keeps it: `<newest>;<bucket>=<count>,…` (`<newest>` empty for none),
    /// after a `~` while it is partial.
    pub fn encode(&self) -> String {
        let mut out = if self.partial {
            "~".to_string()
        } else {
            String::new()
        };
        out.push_str(&self.newest.map(|b| b.0.to_string()).unwrap_or_default());
        out.push(';');
        let buckets: Vec<String> = self
            .messages
            .iter()
            .map(|(b, n)| format!("{}={n}", b.0))
            .collect();
        out.push_str(&buckets.join(","));
        out
    }

    /// What `encode` wrote; `None` for anything else.
    pub fn parse(text: &str) -> Option<StatsShare> {
        let (partial, text) = match text.strip_prefix('~') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (newest, buckets) = text.split_once(';')?;
        let newest = match newest {
            "" => None,
            b => Some(Bucket(b.parse().ok()?)),
        };
        let mut messages = BTreeMap::new();
        for entry in buckets.split(',').filter(|e| !e.is_empty()) {
            let (bucket, count) = entry.split_once('=')?;
            messages.insert(Bucket(bucket.parse().ok()?), count.parse().ok()?);
        }
        Some(StatsShare {
            newest,
            messages,
            partial,
        })
    }
}

/// What one hour item holds, or a change to it: per quarter, messages and conversations
/// whose newest message is in that quarter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HourCounts {
    /// The hour's start, Unix seconds.
    pub hour: i64,
    pub messages: [i64; QUARTERS],
    pub newest: [i64; QUARTERS],
}

/// What the hour items must change when an item's share goes from `before` to `after`,
/// buckets older than the window at `now` left out: the hours that change, in order.
pub fn change(before: &StatsShare, after: &StatsShare, now: Timestamp) -> Vec<HourCounts> {
    let (before, after) = (before.kept(now), after.kept(now));
    let mut hours: BTreeMap<i64, HourCounts> = BTreeMap::new();
    // Adds `by` to the messages (or, `newest`, the newest-message count) of `bucket`.
    let mut add = |bucket: Bucket, newest: bool, by: i64| {
        let hour = bucket.hour();
        let counts = hours.entry(hour).or_insert(HourCounts {
            hour,
            ..HourCounts::default()
        });
        let quarters = if newest {
            &mut counts.newest
        } else {
            &mut counts.messages
        };
        if let Some(slot) = quarters.get_mut(bucket.quarter()) {
            *slot += by;
        }
    };
    for (bucket, n) in &after.messages {
        add(*bucket, false, *n);
    }
    for (bucket, n) in &before.messages {
        add(*bucket, false, -n);
    }
    if before.newest != after.newest {
        if let Some(b) = after.newest {
            add(b, true, 1);
        }
        if let Some(b) = before.newest {
            add(b, true, -1);
        }
    }
    hours
        .into_values()
        .filter(|h| h.messages.iter().chain(&h.newest).any(|n| *n != 0))
        .collect()
}

/// The statistics of the zone's last `DAYS` days, today last, from the hour items.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Daily {
    pub messages: [i64; DAYS],
    /// Conversations whose newest message is today: those with a message today.
    pub conversations_today: i64,
}

/// Where the zone's days start: the last `DAYS` days and tomorrow, in Unix seconds.
pub fn day_starts(now: Timestamp, zone: &TimeZone) -> [i64; DAYS + 1] {
    let today = now.to_zoned(zone.clone()).date();
    std::array::from_fn(|i| {
        let offset = i as i64 - (DAYS as i64 - 1);
        today
            .checked_add(jiff::Span::new().days(offset))
            .ok()
            .and_then(|d| d.to_zoned(zone.clone()).ok())
            .and_then(|z| z.start_of_day().ok())
            .map_or(i64::MAX, |z| z.timestamp().as_second())
    })
}

/// Sums the hour items into the zone's days (`starts` from `day_starts`).
pub fn daily(hours: &[HourCounts], starts: &[i64; DAYS + 1]) -> Daily {
    let mut daily = Daily::default();
    for h in hours {
        for (q, (messages, newest)) in h.messages.iter().zip(&h.newest).enumerate() {
            let t = h.hour + q as i64 * QUARTER_SECONDS;
            // The day whose start is the last one at or before `t` (none: before them all).
            let Some(day) = starts.iter().rposition(|start| *start <= t) else {
                continue;
            };
            if let Some(slot) = daily.messages.get_mut(day) {
                *slot += messages;
                if day == DAYS - 1 {
                    daily.conversations_today += newest;
                }
            }
        }
    }
    daily
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    const NOW: &str = "2026-12-07T18:00:00Z";

    #[test]
    fn a_share_reads_back_as_written() {
        let share = StatsShare::of(
            [
                t("2026-12-07T17:14:59Z"),
                t("2026-12-07T17:15:00Z"),
                t("2026-12-07T17:20:00Z"),
            ],
            t(NOW),
        );
        assert_eq!(share.messages.len(), 2);
        assert_eq!(share.newest, Some(Bucket::of(t("2026-12-07T17:20:00Z"))));
        assert_eq!(StatsShare::parse(&share.encode()), Some(share));
        assert_eq!(StatsShare::parse(";"), Some(StatsShare::default()));
        assert_eq!(StatsShare::default().encode(), ";");
        let partial = StatsShare {
            partial: true,
            ..StatsShare::default()
        };
        assert_eq!(partial.encode(), "~;");
        assert_eq!(StatsShare::parse("~;"), Some(partial));
        for bad in ["", "x;", ";1", ";1=x", "1"] {
            assert_eq!(StatsShare::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn buckets_older_than_the_window_are_left_out() {
        let now = t(NOW);
        let old = t("2026-11-29T17:59:59Z");
        let kept = t("2026-11-29T18:00:00Z");
        let share = StatsShare::of([old, kept], now);
        assert_eq!(
            share.messages.keys().copied().collect::<Vec<_>>(),
            vec![Bucket::of(kept)]
        );
        let only_old = StatsShare::of([old], now);
        assert_eq!(only_old, StatsShare::default());
        // A day later, what was kept has left the window: a write then changes nothing there.
        let later = t("2026-12-08T18:00:00Z");
        assert!(change(&share, &StatsShare::default(), later).is_empty());
    }

    #[test]
    fn a_change_adds_the_difference_hour_by_hour() {
        let now = t(NOW);
        let before = StatsShare::of([t("2026-12-07T16:50:00Z")], now);
        let after = StatsShare::of([t("2026-12-07T16:50:00Z"), t("2026-12-07T17:31:00Z")], now);
        let hours = change(&before, &after, now);
        let h16 = t("2026-12-07T16:00:00Z").as_second();
        let h17 = t("2026-12-07T17:00:00Z").as_second();
        assert_eq!(
            hours,
            vec![
                HourCounts {
                    hour: h16,
                    messages: [0; 4],
                    newest: [0, 0, 0, -1]
                },
                HourCounts {
                    hour: h17,
                    messages: [0, 0, 1, 0],
                    newest: [0, 0, 1, 0]
                },
            ]
        );
        assert!(change(&after, &after, now).is_empty());
    }

    #[test]
    fn a_share_too_large_for_one_write_gets_there_in_parts() {
        let now = t(NOW);
        // One message in each of the last 150 hours.
        let target = StatsShare::of((0..150).map(|h| now - jiff::SignedDuration::from_hours(h)), now);
        let mut at = StatsShare::default();
        let mut parts = 0;
        while at != target {
            let next = at.toward(&target, 97, now);
            assert!(change(&at, &next, now).len() <= 97);
            assert_eq!(next.partial, next != target);
            at = next;
            parts += 1;
        }
        assert_eq!(parts, 2);
        assert_eq!(
            StatsShare::default().toward(&StatsShare::default(), 97, now),
            StatsShare::default()
        );
    }

    #[test]
    fn days_are_the_zones_even_at_quarter_hour_offsets() {
        // Kathmandu is UTC+5:45: its day starts at 18:15 UTC.
        let zone = TimeZone::get("Asia/Kathmandu").unwrap();
        let now = t("2026-12-07T18:20:00Z"); // 2026-12-08 00:05 there
        let starts = day_starts(now, &zone);
        assert_eq!(starts[DAYS - 1], t("2026-12-07T18:15:00Z").as_second());
        let share = StatsShare::of([t("2026-12-07T18:14:00Z"), t("2026-12-07T18:16:00Z")], now);
        let hours = change(&StatsShare::default(), &share, now);
        let daily = daily(&hours, &starts);
        assert_eq!(daily.messages, [0, 0, 0, 0, 0, 1, 1]);
        assert_eq!(daily.conversations_today, 1);
    }

    #[test]
    fn a_dst_day_has_its_own_length() {
        // Santiago moves its clocks on 2026-09-06: that day has 23 hours.
        let zone = TimeZone::get("America/Santiago").unwrap();
        let now = t("2026-09-08T12:00:00Z");
        let starts = day_starts(now, &zone);
        let lengths: Vec<i64> = starts.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(lengths.contains(&(23 * 3600)), "{lengths:?}");
        assert_eq!(lengths.iter().filter(|l| **l == 86_400).count(), DAYS - 1);
    }
}
