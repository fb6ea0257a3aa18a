package main

import "testing"

func TestReqRepExample(t *testing.T) {
	if err := run("mem://" + t.Name()); err != nil {
		t.Fatal(err)
	}
}
