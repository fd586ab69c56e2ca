"""The registry: municipalities, residents, their contacts, bands and staff."""
