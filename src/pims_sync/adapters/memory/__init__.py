"""In-memory fakes of every port, for fast tests."""
