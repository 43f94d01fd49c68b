package protocol

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestValidateEvent(t *testing.T) {
	l := Limits{MaxEventNameLength: 10, MaxEventDataSize: 20}
	tests := []struct {
		name    string
		event   string
		dataLen int
		want    error
	}{
		{"ok", "my-event", 20, nil},
		{"name at limit", strings.Repeat("e", 10), 0, nil},
		{"no name", "", 0, ErrEventNameMissing},
		{"name over limit", strings.Repeat("e", 11), 0, ErrEventNameTooLong},
		{"data over limit", "e", 21, ErrEventDataTooLarge},
		{"name checked before data", strings.Repeat("e", 11), 21, ErrEventNameTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := l.ValidateEvent(tt.event, tt.dataLen)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("ValidateEvent = %v, want %v", err, tt.want)
			}
		})
	}
	if err := (Limits{}).ValidateEvent(strings.Repeat("e", 5000), 1<<20); err != nil {
		t.Fatalf("zero limits are no limits: %v", err)
	}
}

func TestEventText(t *testing.T) {
	tests := []struct {
		raw  string
		want string
		err  bool
	}{
		{raw: `"hello"`, want: "hello"},
		{raw: `"{\"a\":1}"`, want: `{"a":1}`},
		{raw: `"caf\u00e9 \ud83d\ude00"`, want: "café 😀"},
		{raw: ` "x" `, want: "x"},
		{raw: ``, want: ""},
		{raw: `null`, want: ""},
		{raw: `{"a":1}`, want: `{"a":1}`},
		{raw: `[1,2]`, want: `[1,2]`},
		{raw: `42`, want: `42`},
		{raw: `true`, want: `true`},
		{raw: `"unterminated`, err: true},
		{raw: `{"a":`, err: true},
		{raw: "\"bad \xff utf-8\"", err: true},
		{raw: "{\"a\":\"\xc3\x28\"}", err: true},
	}
	for _, tt := range tests {
		got, err := EventText(json.RawMessage(tt.raw))
		if tt.err {
			if !errors.Is(err, ErrEventDataInvalid) {
				t.Errorf("EventText(%q) = %q, %v; want ErrEventDataInvalid", tt.raw, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("EventText(%q) = %q, %v; want %q", tt.raw, got, err, tt.want)
		}
	}
}

func TestClientEventData(t *testing.T) {
	tests := []struct {
		raw  string
		want string
		err  bool
	}{
		{raw: `{"typing":true}`, want: `{"typing":true}`},
		{raw: `"text"`, want: `"text"`},
		{raw: ``, want: `null`},
		{raw: `  `, want: `null`},
		{raw: "\"\xff\"", err: true},
		{raw: "{\"k\":\"\xed\xa0\x80\"}", err: true}, // a UTF-16 surrogate encoded in UTF-8
		{raw: `{"k":`, err: true},
	}
	for _, tt := range tests {
		got, err := ClientEventData(json.RawMessage(tt.raw))
		if tt.err {
			if !errors.Is(err, ErrEventDataInvalid) {
				t.Errorf("ClientEventData(%q) = %s, %v; want ErrEventDataInvalid", tt.raw, got, err)
			}
			continue
		}
		if err != nil || string(got) != tt.want {
			t.Errorf("ClientEventData(%q) = %s, %v; want %s", tt.raw, got, err, tt.want)
		}
	}
}
