module github.com/aitext/aitext/bench/load/bareproxy

go 1.26.0
