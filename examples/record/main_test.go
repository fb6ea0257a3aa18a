package main

import (
	"path/filepath"
	"testing"
)

func TestRecordExample(t *testing.T) {
	if err := run(filepath.Join(t.TempDir(), "lesson.rw")); err != nil {
		t.Fatal(err)
	}
}
