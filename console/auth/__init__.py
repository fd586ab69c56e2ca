"""Console logins: sessions, CSRF, the login rate limit, and who the current user is."""
