"""The console: the operators', supervisors' and technicians' web application and its API."""
