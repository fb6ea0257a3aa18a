package posting_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/rwanda-go/rwanda/posting"
)

func TestMediaString(t *testing.T) {
	tests := []struct {
		m     posting.Media
		want  string
		valid bool
	}{
		{posting.Data, "data", true},
		{posting.Audio, "audio", true},
		{posting.Video, "video", true},
		{posting.Text, "text", true},
		{posting.Image, "image", true},
		{posting.Control, "control", true},
		{6, "media(6)", false},
		{9, "media(9)", false},
		{255, "media(255)", false},
	}
	for _, tt := range tests {
		if got := tt.m.String(); got != tt.want {
			t.Errorf("Media(%d).String() = %q, want %q", uint8(tt.m), got, tt.want)
		}
		if got := tt.m.Valid(); got != tt.valid {
			t.Errorf("Media(%d).Valid() = %v, want %v", uint8(tt.m), got, tt.valid)
		}
	}
	var zero posting.Media
	if zero != posting.Data {
		t.Errorf("zero Media = %v, want data", zero)
	}
}

func TestParseMedia(t *testing.T) {
	tests := []struct {
		in      string
		want    posting.Media
		wantErr bool
	}{
		{"data", posting.Data, false},
		{"audio", posting.Audio, false},
		{"video", posting.Video, false},
		{"text", posting.Text, false},
		{"image", posting.Image, false},
		{"control", posting.Control, false},
		{"DATA", posting.Data, false},
		{"Audio", posting.Audio, false},
		{"vIdEo", posting.Video, false},
		{"CONTROL", posting.Control, false},
		{"", 0, true},
		{"media(1)", 0, true},
		{"1", 0, true},
		{" data", 0, true},
		{"sound", 0, true},
	}
	for _, tt := range tests {
		got, err := posting.ParseMedia(tt.in)
		if tt.wantErr {
			if err == nil {
				t.Errorf("ParseMedia(%q) = %v, want error", tt.in, got)
				continue
			}
			msg := err.Error()
			if !strings.Contains(msg, `"`+tt.in+`"`) {
				t.Errorf("ParseMedia(%q) error %q does not quote the input", tt.in, msg)
			}
			for _, name := range []string{"data", "audio", "video", "text", "image", "control"} {
				if !strings.Contains(msg, name) {
					t.Errorf("ParseMedia(%q) error %q does not list %q", tt.in, msg, name)
				}
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseMedia(%q) = %v, %v; want %v, nil", tt.in, got, err, tt.want)
		}
	}
}

func TestMediaText(t *testing.T) {
	for m := posting.Data; m <= posting.Control; m++ {
		text, err := m.MarshalText()
		if err != nil {
			t.Fatalf("%v.MarshalText: %v", m, err)
		}
		var back posting.Media
		if err := back.UnmarshalText(text); err != nil || back != m {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v", text, back, err, m)
		}
	}
	if _, err := posting.Media(6).MarshalText(); err == nil {
		t.Error("MarshalText of invalid media succeeded")
	}
	m := posting.Video
	if err := m.UnmarshalText([]byte("nope")); err == nil || m != posting.Video {
		t.Errorf("UnmarshalText(nope) = %v, media %v; want error and media unchanged", err, m)
	}

	// Through encoding/json, which uses the text interfaces.
	type config struct{ Media posting.Media }
	b, err := json.Marshal(config{posting.Image})
	if err != nil || string(b) != `{"Media":"image"}` {
		t.Errorf("json.Marshal = %s, %v", b, err)
	}
	var c config
	if err := json.Unmarshal([]byte(`{"Media":"Audio"}`), &c); err != nil || c.Media != posting.Audio {
		t.Errorf("json.Unmarshal = %v, %v", c.Media, err)
	}
}

func TestKindString(t *testing.T) {
	tests := []struct {
		k     posting.Kind
		want  string
		valid bool
	}{
		{posting.Message, "message", true},
		{posting.Request, "request", true},
		{posting.Reply, "reply", true},
		{posting.Fault, "fault", true},
		{posting.Cancel, "cancel", true},
		{4, "cancel", true},
		{5, "kind(5)", false},
		{15, "kind(15)", false},
		{200, "kind(200)", false},
	}
	for _, tt := range tests {
		if got := tt.k.String(); got != tt.want {
			t.Errorf("Kind(%d).String() = %q, want %q", uint8(tt.k), got, tt.want)
		}
		if got := tt.k.Valid(); got != tt.valid {
			t.Errorf("Kind(%d).Valid() = %v, want %v", uint8(tt.k), got, tt.valid)
		}
	}
}
