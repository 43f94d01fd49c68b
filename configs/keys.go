package configs

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/agnivade/levenshtein"
	"github.com/go-viper/mapstructure/v2"
)

// The schema of the configuration comes from the koanf tags of Config: every key herald reads,
// and what kind of value it takes. It makes the loader strict: a key the schema does not have is
// an error at start (a misspelt key must not leave a setting silently at its default), and it
// tells the environment loader where a number indexes a list.

type nodeKind int

const (
	section nodeKind = iota // keys of their own (a struct)
	list                    // a list of sections (apps, an app's webhooks)
	values                  // a list of strings
	value                   // one value
	mapping                 // a map: keys of the user's choosing
)

type node struct {
	kind   nodeKind
	fields map[string]*node // section
	names  []string         // section: its keys in declaration order
	elem   *node            // list: the section of each element
	typ    reflect.Type     // value
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	configSchema = schemaOf(reflect.TypeFor[Config]())
	// knownKeys are every key path, lists written "apps[].key", for suggestions.
	knownKeys = configSchema.paths("")
)

func schemaOf(t reflect.Type) *node {
	switch {
	case t.Kind() == reflect.Struct && t != durationType:
		n := &node{kind: section, fields: map[string]*node{}}
		for i := range t.NumField() {
			name := t.Field(i).Tag.Get("koanf")
			if name == "" || name == "-" {
				continue
			}
			n.fields[name] = schemaOf(t.Field(i).Type)
			n.names = append(n.names, name)
		}
		return n
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		return &node{kind: list, elem: schemaOf(t.Elem())}
	case t.Kind() == reflect.Slice:
		return &node{kind: values, typ: t}
	case t.Kind() == reflect.Map:
		return &node{kind: mapping, typ: t}
	}
	return &node{kind: value, typ: t}
}

func (n *node) paths(prefix string) []string {
	var out []string
	switch n.kind {
	case section:
		for _, name := range n.names {
			out = append(out, n.fields[name].paths(join(prefix, name))...)
		}
	case list:
		out = n.elem.paths(prefix + "[]")
	default:
		out = []string{prefix}
	}
	return out
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

func index(prefix string, i int) string { return prefix + "[" + strconv.Itoa(i) + "]" }

// lookup finds the schema of a key path such as "apps[0].limits.max_connections" (nil when the
// schema has no such key).
func (n *node) lookup(path string) *node {
	cur := n
	for part := range strings.SplitSeq(path, ".") {
		name, rest, _ := strings.Cut(part, "[")
		if cur.kind != section || cur.fields[name] == nil {
			return nil
		}
		cur = cur.fields[name]
		for ; rest != ""; _, rest, _ = strings.Cut(rest, "[") {
			if cur.kind != list {
				return nil
			}
			cur = cur.elem
		}
	}
	return cur
}

// describe says what kind of value a key takes, for an error about a value of the wrong kind.
func (n *node) describe() string {
	switch n.kind {
	case section:
		return "a section with the keys " + strings.Join(n.names, ", ")
	case list:
		return "a list of sections (- " + n.elem.names[0] + ": ...)"
	case values:
		return "a list of values"
	case mapping:
		return "a section of names and values"
	}
	switch n.typ {
	case durationType:
		return "a duration such as 500ms, 30s or 5m"
	}
	switch n.typ.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "a whole number"
	case reflect.Float64, reflect.Float32:
		return "a number"
	}
	return "a " + n.typ.String()
}

// tree is the configuration as the layers build it: nested map[string]any sections, []any
// lists, and the source of each value that did not come from the defaults.
type tree struct {
	root    map[string]any
	sources map[string]string // key path -> "config file x.yaml", "HERALD_X", "--listen"
}

// checkFile reports every key of a file's tree that the schema does not have, and every value
// of the wrong shape (a single value where a section is expected, say), and records the source
// of the file's values.
func (t *tree) checkFile(m map[string]any, n *node, prefix, src string) []error {
	var errs []error
	for _, name := range sortedKeys(m) {
		v, path := m[name], join(prefix, name)
		f := n.fields[name]
		if f == nil {
			errs = append(errs, unknownKeyError(src, path, n))
			continue
		}
		if v == nil {
			continue // "key:" with nothing after it: the value it had stays
		}
		switch f.kind {
		case section:
			sub, ok := v.(map[string]any)
			if !ok {
				errs = append(errs, shapeError(src, path, v, f))
				continue
			}
			errs = append(errs, t.checkFile(sub, f, path, src)...)
		case list:
			items, ok := v.([]any)
			if !ok {
				errs = append(errs, shapeError(src, path, v, f))
				continue
			}
			for i, item := range items {
				sub, ok := item.(map[string]any)
				if !ok {
					errs = append(errs, shapeError(src, index(path, i), item, f.elem))
					continue
				}
				errs = append(errs, t.checkFile(sub, f.elem, index(path, i), src)...)
			}
		case values:
			if _, ok := v.(map[string]any); ok {
				errs = append(errs, shapeError(src, path, v, f))
				continue
			}
			t.sources[path] = src
		case mapping:
			if _, ok := v.(map[string]any); !ok {
				errs = append(errs, shapeError(src, path, v, f))
				continue
			}
			t.sources[path] = src
		case value:
			switch v.(type) {
			case map[string]any, []any:
				errs = append(errs, shapeError(src, path, v, f))
				continue
			}
			t.sources[path] = src
		}
	}
	return errs
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// maxListIndex bounds an index in an environment variable: HERALD_APPS__99999999__KEY must not
// build a list that long.
const maxListIndex = 1000

// setEnv sets the key an environment variable names (HERALD_APPS__0__WEBHOOKS__1__URL=v:
// apps[0].webhooks[1].url). A number after a list's key indexes it, growing the list as needed;
// a list of values takes comma-separated values; any other value is taken whole.
func (t *tree) setEnv(name, v string) error {
	parts := strings.Split(strings.ToLower(strings.TrimPrefix(name, EnvPrefix)), "__")
	cur, n, path := t.root, configSchema, ""
	for i := 0; i < len(parts); i++ {
		part := parts[i]
		f := n.fields[part]
		if f == nil {
			written := join(path, strings.Join(parts[i:], "."))
			return fmt.Errorf("environment: unknown variable %s%s", name, suggestion(written, n, envName))
		}
		path = join(path, part)
		last := i == len(parts)-1
		switch f.kind {
		case value, values:
			if !last {
				return fmt.Errorf("environment: %s: %s is %s, it has no key %s", name, path, f.describe(), parts[i+1])
			}
			if f.kind == values {
				cur[part] = toAny(strings.Split(v, ","))
			} else {
				cur[part] = v
			}
			t.sources[path] = name
			return nil
		case mapping:
			if i != len(parts)-2 {
				return fmt.Errorf("environment: %s: %s is %s: use %s", name, path, f.describe(), envName(path+".<name>"))
			}
			sectionAt(cur, part)[parts[i+1]] = v
			t.sources[path] = name
			return nil
		case section:
			if last {
				return fmt.Errorf("environment: %s: %s is a section: set one of its keys, e.g. %s", name, path, envName(join(path, f.names[0])))
			}
			cur, n = sectionAt(cur, part), f
		case list:
			if last {
				return fmt.Errorf("environment: %s: %s is a list: use %s", name, path, envName(path+"[]."+f.elem.names[0]))
			}
			idx, err := strconv.Atoi(parts[i+1])
			if err != nil || idx < 0 || idx > maxListIndex {
				rest := parts[i+1:]
				if err == nil {
					rest = parts[i+2:]
				}
				return fmt.Errorf("environment: %s: %q is not an index of %s (0 to %d): use %s", name, parts[i+1], path, maxListIndex,
					envName(path+"[]."+strings.Join(rest, ".")))
			}
			if i+2 == len(parts) {
				return fmt.Errorf("environment: %s: %s is a section: set one of its keys, e.g. %s", name, index(path, idx),
					envName(index(path, idx)+"."+f.elem.names[0]))
			}
			items, _ := cur[part].([]any)
			for len(items) <= idx {
				items = append(items, map[string]any{})
			}
			item, ok := items[idx].(map[string]any)
			if !ok {
				item = map[string]any{}
				items[idx] = item
			}
			cur[part] = items
			cur, n, path = item, f.elem, index(path, idx)
			i++
		}
	}
	return nil
}

// setOverride sets a key given by the command line (--listen: "listen").
func (t *tree) setOverride(key string, v any, src string) error {
	n := configSchema.lookup(key)
	if n == nil || (n.kind != value && n.kind != values) || strings.Contains(key, "[") {
		return fmt.Errorf("%s: %s is not a key herald reads", src, key)
	}
	cur := t.root
	parts := strings.Split(key, ".")
	for _, p := range parts[:len(parts)-1] {
		cur = sectionAt(cur, p)
	}
	cur[parts[len(parts)-1]] = v
	t.sources[key] = src
	return nil
}

func sectionAt(m map[string]any, name string) map[string]any {
	sub, ok := m[name].(map[string]any)
	if !ok {
		sub = map[string]any{}
		m[name] = sub
	}
	return sub
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// get returns the value at a key path ("apps[0].limits.max_connections"), nil when absent.
func (t *tree) get(path string) any {
	var cur any = t.root
	for part := range strings.SplitSeq(path, ".") {
		name, rest, _ := strings.Cut(part, "[")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[name]
		for ; rest != ""; _, rest, _ = strings.Cut(rest, "[") {
			items, ok := cur.([]any)
			digits, _, _ := strings.Cut(rest, "]")
			i, err := strconv.Atoi(digits)
			if !ok || err != nil || i >= len(items) {
				return nil
			}
			cur = items[i]
		}
	}
	return cur
}

// from says where a key's value came from, for an error about it: " (from HERALD_LISTEN)", or
// nothing for a default.
func (t *tree) from(path string) string {
	if src, ok := t.sources[path]; ok {
		return " (from " + src + ")"
	}
	return ""
}

// decodeError turns what mapstructure reports about a value it cannot convert into an error
// that names the key, the value given, what the key takes and where the value came from
// (mapstructure leaves the value out on purpose; here the key is known not to be a secret, or
// the value is not shown: see describeValue).
func (t *tree) decodeError(prefix string, err error) error {
	var out []error
	var walk func(error)
	walk = func(e error) {
		if de, ok := e.(*mapstructure.DecodeError); ok {
			path := join(prefix, de.Name())
			n := configSchema.lookup(path)
			if n == nil {
				out = append(out, fmt.Errorf("%s: %w", path, de.Unwrap()))
				return
			}
			out = append(out, fmt.Errorf("%s: %s is not %s%s", path, describeValue(path, t.get(path)), n.describe(), t.from(path)))
			return
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, inner := range j.Unwrap() {
				walk(inner)
			}
			return
		}
		if inner := errors.Unwrap(e); inner != nil {
			walk(inner)
			return
		}
		out = append(out, e)
	}
	walk(err)
	return errors.Join(out...)
}

// describeValue quotes a value for an error message, except a secret's.
func describeValue(path string, v any) string {
	if strings.HasSuffix(path, ".secret") {
		return "the value given"
	}
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	return fmt.Sprintf("%v", v)
}

func shapeError(src, path string, v any, n *node) error {
	got := "a single value"
	switch v.(type) {
	case map[string]any:
		got = "a section"
	case []any:
		got = "a list"
	}
	return fmt.Errorf("%s: %s must be %s, not %s", src, path, n.describe(), got)
}

func unknownKeyError(src, path string, n *node) error {
	return fmt.Errorf("%s: unknown key %s%s", src, path, suggestion(path, n, func(p string) string { return p }))
}

// suggestion is what an unknown key most likely meant: the known key with the same last name
// (client_events at the top level: apps[].client_events), else the nearest known key by edit
// distance ("activty_timeout": activity_timeout), else the keys known where it stands. show
// writes a key path the way the user wrote theirs (a file's key, an environment variable).
func suggestion(written string, where *node, show func(string) string) string {
	shape := indexPattern(written)
	leaf := shape[strings.LastIndexAny(shape, ".]")+1:]
	best, bestDist := "", -1
	for _, k := range knownKeys {
		if k != shape && k[strings.LastIndexAny(k, ".]")+1:] == leaf {
			if d := levenshtein.ComputeDistance(shape, k); bestDist < 0 || d < bestDist {
				best, bestDist = k, d
			}
		}
	}
	if best == "" {
		for _, k := range knownKeys {
			if d := levenshtein.ComputeDistance(shape, k); d <= max(2, len(shape)/4) && (bestDist < 0 || d < bestDist) {
				best, bestDist = k, d
			}
		}
	}
	if best != "" {
		return " (did you mean " + show(withIndexes(best, written)) + "?)"
	}
	if where != nil && where.kind == section {
		return " (known here: " + strings.Join(where.names, ", ") + ")"
	}
	return ""
}

// indexPattern writes a key path's indexes as [] ("apps[0].key": "apps[].key").
func indexPattern(path string) string {
	var b strings.Builder
	for {
		open := strings.IndexByte(path, '[')
		if open < 0 {
			b.WriteString(path)
			return b.String()
		}
		closing := strings.IndexByte(path[open:], ']')
		if closing < 0 {
			b.WriteString(path)
			return b.String()
		}
		b.WriteString(path[:open+1])
		b.WriteByte(']')
		path = path[open+closing+1:]
	}
}

// withIndexes fills the [] of a known key path with the indexes of the path the user wrote, in
// order; those left stay [].
func withIndexes(known, written string) string {
	var idx []string
	for rest := written; ; {
		open := strings.IndexByte(rest, '[')
		if open < 0 {
			break
		}
		closing := strings.IndexByte(rest[open:], ']')
		if closing < 0 {
			break
		}
		idx = append(idx, rest[open+1:open+closing])
		rest = rest[open+closing+1:]
	}
	for _, i := range idx {
		if !strings.Contains(known, "[]") {
			break
		}
		known = strings.Replace(known, "[]", "["+i+"]", 1)
	}
	return known
}

// envName is the environment variable of a key path: apps[0].secret is HERALD_APPS__0__SECRET,
// and an index not known is <n> (apps[].secret: HERALD_APPS__<n>__SECRET).
func envName(path string) string {
	path = strings.ReplaceAll(path, "[]", ".<n>")
	path = strings.ReplaceAll(strings.ReplaceAll(path, "[", "."), "]", "")
	parts := strings.Split(path, ".")
	for i, p := range parts {
		if p != "<n>" {
			parts[i] = strings.ToUpper(p)
		}
	}
	return EnvPrefix + strings.Join(parts, "__")
}
