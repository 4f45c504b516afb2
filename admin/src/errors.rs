//! An error as one line for an operator: each cause once. Some errors (mysql_async's I/O
//! errors, the SDK's) already print their source in their own text, which anyhow's `{:#}`
//! would then print again after it.

/// The error and its causes joined by ": ", leaving out a cause whose text the line
/// already holds.
pub fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("Input/output error: {0}")]
    struct Wraps(#[source] std::io::Error);

    #[test]
    fn a_cause_already_in_the_text_is_said_once() {
        let io = std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "Connection refused (os error 111)",
        );
        let e = anyhow::Error::new(Wraps(io)).context("reading MySQL db:3306/legacy");
        assert_eq!(
            one_line(&e),
            "reading MySQL db:3306/legacy: Input/output error: Connection refused (os error 111)"
        );
        let plain = anyhow::anyhow!("the cause").context("what failed");
        assert_eq!(one_line(&plain), format!("{plain:#}"));
    }
}
