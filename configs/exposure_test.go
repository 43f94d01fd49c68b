package configs

import (
	"strings"
	"testing"
)

func TestLoopbackOnly(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:6001": true, "127.1.2.3:0": true, "[::1]:6001": true, "localhost:6001": true,
		"0.0.0.0:6001": false, ":6001": false, "[::]:6001": false, "10.0.0.5:6001": false,
		"example.com:6001": false, "[::ffff:127.0.0.1]:6001": true, "127.0.0.1": false,
	} {
		if got := LoopbackOnly(addr); got != want {
			t.Errorf("LoopbackOnly(%q) = %t, want %t", addr, got, want)
		}
	}
}

// TestUnsafeDefaultsRefusedBeyondLoopback: listening beyond loopback with the embedded default
// credentials, or with a short or blank secret, is refused with the variable to set and no
// secret in the message; on loopback only, the default app keeps working.
func TestUnsafeDefaultsRefusedBeyondLoopback(t *testing.T) {
	const strong = "0123456789abcdef0123" // 20 bytes
	cases := []struct {
		name string
		env  []string
		want []string // nil: loads
	}{
		{"default app on loopback", nil, nil},
		{"default app on loopback, metrics off", []string{"HERALD_METRICS_LISTEN="}, nil},
		{"short secret on loopback", []string{"HERALD_APPS__0__SECRET=short"}, nil},
		{"default app on every interface", []string{"HERALD_LISTEN=0.0.0.0:6001"},
			[]string{`apps[0].key is the embedded default "app-key" and herald listens on 0.0.0.0:6001`, "set HERALD_APPS__0__KEY",
				"apps[0].secret is the embedded default one (secret_sha256=", "set HERALD_APPS__0__SECRET"}},
		{"bare port", []string{"HERALD_LISTEN=:6001", "HERALD_APPS__0__KEY=mine"},
			[]string{"apps[0].secret is the embedded default one", "listens on :6001"}},
		{"metrics beyond loopback", []string{"HERALD_METRICS_LISTEN=0.0.0.0:9601", "HERALD_APPS__0__SECRET=" + strong},
			[]string{"apps[0].key is the embedded default", "listens on 0.0.0.0:9601"}},
		{"IPv6 any", []string{"HERALD_LISTEN=[::]:6001", "HERALD_APPS__0__KEY=mine", "HERALD_APPS__0__SECRET=" + strong}, nil},
		{"short secret beyond loopback", []string{"HERALD_LISTEN=0.0.0.0:6001", "HERALD_APPS__0__KEY=mine", "HERALD_APPS__0__SECRET=tooshort"},
			[]string{"apps[0].secret (secret_sha256=", "has 8 bytes", "at least 16 bytes", "HERALD_APPS__0__SECRET"}},
		{"blank secret beyond loopback", []string{"HERALD_LISTEN=0.0.0.0:6001", "HERALD_APPS__0__KEY=mine", "HERALD_APPS__0__SECRET=                    "},
			[]string{"apps[0].secret (secret_sha256=", "is only white space"}},
		{"own credentials beyond loopback", []string{"HERALD_LISTEN=0.0.0.0:6001", "HERALD_METRICS_LISTEN=0.0.0.0:9601",
			"HERALD_APPS__0__KEY=mine", "HERALD_APPS__0__SECRET=" + strong}, nil},
		{"a second app's short secret", []string{"HERALD_LISTEN=0.0.0.0:6001", "HERALD_APPS__0__KEY=mine", "HERALD_APPS__0__SECRET=" + strong,
			"HERALD_APPS__1__ID=b", "HERALD_APPS__1__KEY=kb", "HERALD_APPS__1__SECRET=sb"},
			[]string{"apps[1].secret (secret_sha256=", "has 2 bytes", "HERALD_APPS__1__SECRET"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load("", c.env, nil)
			if c.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("loaded; want %q", c.want)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nlacks %q", err, w)
				}
			}
			for _, secret := range []string{"app-secret", "tooshort", "=sb", strong} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("the error shows a secret (%q): %s", secret, err)
				}
			}
		})
	}
}

func TestFingerprint(t *testing.T) {
	// printf %s app-secret | sha256sum
	if got := Fingerprint("app-secret"); got != "6c904c51" {
		t.Errorf("Fingerprint = %s", got)
	}
	if Fingerprint("a") == Fingerprint("b") {
		t.Error("two secrets, one fingerprint")
	}
}
