import MCP
import MendCore

/// LLM planners (Anthropic Messages, OpenAI-compatible) and the bounded agent loop. Built in issue 6.
public enum MendAgent {}
