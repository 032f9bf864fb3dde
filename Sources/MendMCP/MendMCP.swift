import MCP
import MendPipeline

/// The MCP server over an Engine (tools, resources, prompts). Built in issue 5.
public enum MendMCP {}
