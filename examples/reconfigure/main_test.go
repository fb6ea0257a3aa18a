package main

import "testing"

func TestReconfigureExample(t *testing.T) {
	if err := run("mem://" + t.Name()); err != nil {
		t.Fatal(err)
	}
}
