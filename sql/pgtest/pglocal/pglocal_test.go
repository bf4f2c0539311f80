package pglocal

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
)

// TestStartCluster exercises the path taken on a machine with PostgreSQL
// binaries but no running server: initdb, start, connect, stop.
func TestStartCluster(t *testing.T) {
	t.Parallel()
	if _, err := binDir(); err != nil {
		t.Fatalf("PostgreSQL binaries are required for the test suite: %v", err)
	}
	dir, err := os.MkdirTemp("", "pglocal-test-*")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	ctx := context.Background()
	dataDir := filepath.Join(dir, "data")
	url, err := StartCluster(ctx, dataDir, port)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := StopCluster(context.Background(), dataDir); err != nil {
			t.Errorf("stopping: %v", err)
		}
	})
	if err := ping(ctx, url); err != nil {
		t.Fatal(err)
	}
}
