"""The door's toolkit: what every door of the project (the front door, and the local stand-ins
of AWS's doors in ``scripts.lib.doors``) keeps against its clients, binds, forwards and logs
with. It imports nothing of the project but the request path's error shape."""
