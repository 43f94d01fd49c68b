package configs

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// MinSecretBytes is the shortest app secret herald accepts when it listens beyond loopback: a
// secret signs every HTTP API call and channel authorisation, and a short one can be guessed.
const MinSecretBytes = 16

// Fingerprint names a secret without showing it: the first 8 hex digits of its SHA-256, shown
// as secret_sha256=... in the banner and in errors, so that two secrets can be told apart and
// checked against one's own with `printf %s "$SECRET" | sha256sum`.
func Fingerprint(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:4])
}

// LoopbackOnly reports whether a listen address (host:port) takes connections from this
// machine only: a 127.0.0.0/8 or ::1 address, or localhost. An empty host (":6001"), 0.0.0.0,
// :: and any other name or address are reachable from elsewhere.
func LoopbackOnly(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// ExposedAddr is the first of listen and metrics_listen that is reachable from other machines
// ("" when herald listens on loopback only).
func (c *Config) ExposedAddr() string {
	if !LoopbackOnly(c.Listen) {
		return c.Listen
	}
	if c.MetricsListen != "" && !LoopbackOnly(c.MetricsListen) {
		return c.MetricsListen
	}
	return ""
}

// checkExposure refuses the embedded default credentials, and secrets that are short or only
// white space, as soon as herald listens beyond loopback: on loopback the default app keeps
// working for `go run ./cmd/herald`, but anyone who can reach a public port knows app-secret.
// No message shows a secret; a fingerprint stands for it.
func (c *Config) checkExposure() []error {
	addr := c.ExposedAddr()
	if addr == "" {
		return nil
	}
	def, err := embeddedApp()
	if err != nil {
		return []error{err}
	}
	where := fmt.Sprintf("herald listens on %s, beyond this machine", addr)
	var errs []error
	for i, a := range c.Apps {
		app := index("apps", i)
		if a.Key != "" && a.Key == def.Key {
			errs = append(errs, fmt.Errorf("%s.key is the embedded default %q and %s: set %s (or %s.key in the config file) to a key of your own",
				app, def.Key, where, envName(app+".key"), app))
		}
		switch {
		case a.Secret == "":
			// reported as missing
		case a.Secret == def.Secret:
			errs = append(errs, fmt.Errorf("%s.secret is the embedded default one (secret_sha256=%s) and %s: set %s to a secret of your own, e.g. $(openssl rand -hex 32)",
				app, Fingerprint(a.Secret), where, envName(app+".secret")))
		case strings.TrimSpace(a.Secret) == "":
			errs = append(errs, fmt.Errorf("%s.secret (secret_sha256=%s) is only white space and %s: set %s to a secret of at least %d bytes, e.g. $(openssl rand -hex 32)",
				app, Fingerprint(a.Secret), where, envName(app+".secret"), MinSecretBytes))
		case len(a.Secret) < MinSecretBytes:
			errs = append(errs, fmt.Errorf("%s.secret (secret_sha256=%s) has %d bytes and %s: set %s to a secret of at least %d bytes, e.g. $(openssl rand -hex 32)",
				app, Fingerprint(a.Secret), len(a.Secret), where, envName(app+".secret"), MinSecretBytes))
		}
	}
	return errs
}
