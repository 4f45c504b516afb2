//! What a function serves: its routes, each a path (as template.yaml routes it to the
//! function) and the handler that answers it. Each function's `main.rs` lists its own, so
//! only those handlers are linked into its binary.

use std::future::Future;
use std::pin::Pin;

use super::{App, Failure, Handled, Request, conversations, counts, messages, polling, stats};

/// A handler's answer, boxed: one type for every handler of a table.
type Answer<'a> = Pin<Box<dyn Future<Output = Result<Handled, Failure>> + Send + 'a>>;

/// What answers one route.
#[derive(Clone, Copy)]
pub struct Handler {
    /// Its name in the request log line (`handler`).
    pub name: &'static str,
    /// The error text of the legacy PHP endpoint it replaces, kept in its error answers.
    pub legacy_error: &'static str,
    serve: for<'a> fn(&'a App, &'a Request) -> Answer<'a>,
}

impl Handler {
    pub(super) fn serve<'a>(&self, app: &'a App, req: &'a Request) -> Answer<'a> {
        (self.serve)(app, req)
    }
}

impl std::fmt::Debug for Handler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

impl PartialEq for Handler {
    fn eq(&self, other: &Handler) -> bool {
        self.name == other.name
    }
}

impl Eq for Handler {}

/// The inbox: `GET /api/conversations` and its legacy URLs.
pub const INBOX: Handler = Handler {
    name: "inbox",
    legacy_error: "Error al obtener conversaciones",
    serve: |app, req| Box::pin(conversations::handle(app, req)),
};

/// The inbox's counts per tab and of messages: `GET /api/conversations/counts` and
/// `/api/get-conversation-counts.php`.
pub const COUNTS: Handler = Handler {
    name: "counts",
    legacy_error: "Error al obtener conteos",
    serve: |app, req| Box::pin(counts::handle(app, req)),
};

/// The dashboard's statistics, conversation half: `GET /api/stats`.
pub const STATS: Handler = Handler {
    name: "stats",
    legacy_error: "Error al obtener estadísticas",
    serve: |app, req| Box::pin(stats::handle(app, req)),
};

/// One conversation's messages: `GET /api/conversations/{id}/messages` and its legacy URLs.
pub const MESSAGES: Handler = Handler {
    name: "messages",
    legacy_error: "Error al obtener mensajes",
    serve: |app, req| Box::pin(messages::handle(app, req)),
};

/// The dashboard's inbox poll, `/api/check-updates.php`.
pub const CHECK_UPDATES: Handler = Handler {
    name: "check_updates",
    legacy_error: "Error al verificar actualizaciones",
    serve: |app, req| Box::pin(polling::check_updates(app, req)),
};

/// The dashboard's open-conversation poll, `/api/check-conversation-updates.php`.
pub const CONVERSATION_UPDATES: Handler = Handler {
    name: "conversation_updates",
    legacy_error: "Error al verificar actualizaciones",
    serve: |app, req| Box::pin(polling::conversation_updates(app, req)),
};

/// A function's routes: `(path, handler)`, where a `{name}` segment of the path stands for
/// any one segment.
pub type Routes = &'static [(&'static str, Handler)];

/// The handler of the route whose path ends `path` (segment by segment, so a base path in
/// front is allowed); a path none ends (a test event's) goes to the first route's.
pub fn handler_for(routes: Routes, path: &str) -> Option<Handler> {
    routes
        .iter()
        .find(|(pattern, _)| ends_with(path, pattern))
        .or_else(|| routes.first())
        .map(|(_, handler)| *handler)
}

fn ends_with(path: &str, pattern: &str) -> bool {
    let mut path = path.trim_end_matches('/').rsplit('/');
    pattern.trim_start_matches('/').rsplit('/').all(|want| {
        path.next().is_some_and(|got| {
            got == want || (want.starts_with('{') && want.ends_with('}') && !got.is_empty())
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTES: Routes = &[
        ("/api/conversations", INBOX),
        ("/api/check-updates.php", CHECK_UPDATES),
        ("/api/conversations/{id}/messages", MESSAGES),
    ];

    #[test]
    fn a_path_goes_to_the_route_it_ends_with() {
        let of = |path| handler_for(ROUTES, path).map(|h| h.name);
        assert_eq!(of("/api/conversations"), Some("inbox"));
        assert_eq!(of("/api/check-updates.php"), Some("check_updates"));
        assert_eq!(of("/panel/api/check-updates.php"), Some("check_updates"));
        assert_eq!(of("/api/conversations/42/messages"), Some("messages"));
        assert_eq!(
            of("/api/conversations//messages"),
            Some("inbox"),
            "an empty id is no segment"
        );
        assert_eq!(
            of("/api/xcheck-updates.php"),
            Some("inbox"),
            "whole segments only"
        );
        assert_eq!(of(""), Some("inbox"));
        assert_eq!(handler_for(&[], "/api/conversations"), None);
    }
}
