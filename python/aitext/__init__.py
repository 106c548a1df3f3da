"""aitext: AI text operations over gRPC behind a tiered cache."""
