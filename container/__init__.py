"""What the image runs besides the request path: the `serve` entrypoint, the model server's
handler, and the front door that makes `/ping` honest."""
