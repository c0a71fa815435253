"""Local runtime and deployment assets of the platform."""
