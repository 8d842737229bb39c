"""The REST skin: create_app(workspace), error mapping, auth, routes, protocols."""
