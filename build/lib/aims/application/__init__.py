"""What people do with aims, once for every door (REST, web pages, Slack): read from the
register, act through the use case workflows after the domain's checks."""
