"""Reports on conversations, read from the tracker store. Nothing leaves the machine."""
