package jsonval

import (
	"encoding/json"
	"math"
	"testing"
)

func TestOf(t *testing.T) {
	in := map[any]any{1: []any{map[string]any{"x": math.NaN()}}, "k": "v"}
	b, err := json.Marshal(Of(in))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"1":[{"x":"NaN"}],"k":"v"}`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}
