"""E-mail, the second notification channel: SMTP, HTML and plain text from Jinja2 templates."""
