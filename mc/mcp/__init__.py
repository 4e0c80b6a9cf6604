"""The assistant's board: an MCP server (the official SDK) for a person's AI assistant.

``tools`` declares what an assistant may do — plan, create and queue projects, watch
them, read logs and artifacts, pick up hand-off jobs and report them — each a call on
the same library the CLI and the web board use, under the same role checks (an agent
token cannot create, queue or move; nobody approves through a token). ``stdio`` serves
it to an assistant on this machine (`mc mcp`); ``http`` mounts it at /mcp on the web
server, authenticated by bearer token like the API.

The SDK costs most of a second to import: only `mc mcp` and the web server import this.
"""
