// Command template writes the golden files that pin pushtail's Go
// compatibility code (crates/pushtail-pipeline/src/go/) to real Go:
//
//   - template.json: every case of cases.json rendered by text/template with
//     Promtail's own template functions and the sprig functions that are
//     thin wrappers around the standard library (sprig itself is not in the
//     standard library; the rest of sprig is tested against its documented
//     behaviour in the Rust tests);
//   - case.json: strings.ToUpper/ToLower/ToTitle over a table of strings, and
//     unicode.ToUpper/ToLower/ToTitle for every rune Go maps.
//
// Standard library only. Regenerate with:
//
//	cd xtask/golden/template && go run . ../../../crates/pushtail-pipeline/src/go/testdata
package main

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha3"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/adler32"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"text/template"
	"unicode"
)

// The input table: templates all rendered over one data map whose values
// are strings (as Promtail gives them), lists of strings or maps of strings.
type tmplCases struct {
	Data      map[string]any `json:"data"`
	Templates []string       `json:"templates"`
}

type tmplGolden struct {
	Data  map[string]any `json:"data"`
	Cases []tmplResult   `json:"cases"`
}

// The outcome: Output when it rendered, Error (Go's message) when parsing
// or execution failed; Phase says which ("parse" or "exec").
type tmplResult struct {
	Template string  `json:"template"`
	Output   *string `json:"output,omitempty"`
	Phase    string  `json:"error_phase,omitempty"`
	Error    string  `json:"error,omitempty"`
}

// Promtail's extra functions (clients/pkg/logentry/stages/template.go).
var promtailFuncs = template.FuncMap{
	"ToLower":    strings.ToLower,
	"ToUpper":    strings.ToUpper,
	"Replace":    strings.Replace,
	"Trim":       strings.Trim,
	"TrimLeft":   strings.TrimLeft,
	"TrimRight":  strings.TrimRight,
	"TrimPrefix": strings.TrimPrefix,
	"TrimSuffix": strings.TrimSuffix,
	"TrimSpace":  strings.TrimSpace,
	"Hash": func(salt string, input string) string {
		h := sha3.Sum256([]byte(salt + input))
		return hex.EncodeToString(h[:])
	},
	"Sha2Hash": func(salt string, input string) string {
		h := sha256.Sum256([]byte(salt + input))
		return hex.EncodeToString(h[:])
	},
	"regexReplaceAll": func(re string, s string, repl string) string {
		return regexp.MustCompile(re).ReplaceAllString(s, repl)
	},
	"regexReplaceAllLiteral": func(re string, s string, repl string) string {
		return regexp.MustCompile(re).ReplaceAllLiteralString(s, repl)
	},
}

// Sprig functions that are one standard-library call (same signatures).
var stdlibSprig = template.FuncMap{
	"trim":           strings.TrimSpace,
	"upper":          strings.ToUpper,
	"lower":          strings.ToLower,
	"title":          strings.Title,
	"repeat":         func(count int, str string) string { return strings.Repeat(str, count) },
	"trimAll":        func(a, b string) string { return strings.Trim(b, a) },
	"trimSuffix":     func(a, b string) string { return strings.TrimSuffix(b, a) },
	"trimPrefix":     func(a, b string) string { return strings.TrimPrefix(b, a) },
	"contains":       func(substr string, str string) bool { return strings.Contains(str, substr) },
	"hasPrefix":      func(substr string, str string) bool { return strings.HasPrefix(str, substr) },
	"hasSuffix":      func(substr string, str string) bool { return strings.HasSuffix(str, substr) },
	"replace":        func(old, new, src string) string { return strings.Replace(src, old, new, -1) },
	"splitList":      func(sep, orig string) []string { return strings.Split(orig, sep) },
	"atoi":           func(a string) int { i, _ := strconv.Atoi(a); return i },
	"b64enc":         func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) },
	"b32enc":         func(s string) string { return base32.StdEncoding.EncodeToString([]byte(s)) },
	"sha1sum":        func(s string) string { h := sha1.Sum([]byte(s)); return hex.EncodeToString(h[:]) },
	"sha256sum":      func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) },
	"adler32sum":     func(s string) string { return fmt.Sprintf("%d", adler32.Checksum([]byte(s))) },
	"base":           path.Base,
	"dir":            path.Dir,
	"clean":          path.Clean,
	"ext":            path.Ext,
	"isAbs":          path.IsAbs,
	"osBase":         filepath.Base,
	"osDir":          filepath.Dir,
	"osExt":          filepath.Ext,
	"osClean":        filepath.Clean,
	"osIsAbs":        filepath.IsAbs,
	"regexQuoteMeta": regexp.QuoteMeta,
	// sprig's slice replaces the builtin of the same name: lists only.
	"slice": func(list any, indices ...any) (any, error) {
		v := reflect.ValueOf(list)
		switch v.Kind() {
		case reflect.Slice, reflect.Array:
		default:
			return nil, fmt.Errorf("list should be type of slice or array but %s", v.Kind())
		}
		start, end := 0, v.Len()
		if len(indices) > 0 {
			start = indices[0].(int)
		}
		if len(indices) > 1 {
			end = indices[1].(int)
		}
		return v.Slice(start, end).Interface(), nil
	},
	"regexMatch": func(re string, s string) bool { m, _ := regexp.MatchString(re, s); return m },
	"regexFind": func(re string, s string) (string, error) {
		r, err := regexp.Compile(re)
		if err != nil {
			return "", err
		}
		return r.FindString(s), nil
	},
	"regexFindAll": func(re string, s string, n int) ([]string, error) {
		r, err := regexp.Compile(re)
		if err != nil {
			return []string{}, err
		}
		return r.FindAllString(s, n), nil
	},
	"regexSplit": func(re string, s string, n int) ([]string, error) {
		r, err := regexp.Compile(re)
		if err != nil {
			return []string{}, err
		}
		return r.Split(s, n), nil
	},
}

func funcs() template.FuncMap {
	m := template.FuncMap{}
	for k, v := range stdlibSprig {
		m[k] = v
	}
	for k, v := range promtailFuncs {
		m[k] = v
	}
	return m
}

func render(src string, data map[string]any) tmplResult {
	r := tmplResult{Template: src}
	t, err := template.New("").Funcs(funcs()).Parse(src)
	if err != nil {
		r.Phase, r.Error = "parse", err.Error()
		return r
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		r.Phase, r.Error = "exec", err.Error()
		return r
	}
	out := buf.String()
	r.Output = &out
	return r
}

type caseString struct {
	In    string `json:"in"`
	Upper string `json:"upper"`
	Lower string `json:"lower"`
	Title string `json:"title"`
}

// Runes lists every rune Go maps, as "RUNE UPPER LOWER TITLE" in hex.
type caseFile struct {
	GoVersion      string       `json:"go_version"`
	UnicodeVersion string       `json:"unicode_version"`
	Strings        []caseString `json:"strings"`
	Runes          []string     `json:"runes"`
}

var caseStrings = []string{
	"", "hello", "HELLO", "Hello World 123",
	"straße", "STRASSE", "ß", "ẞ",
	"ΣΊΣΥΦΟΣ", "σίσυφος", "ΟΔΟΣ", "Σ", "ς",
	"İstanbul", "ıi", "IİıI", "DŽ dž ǅ", "ǅemal",
	"ŉ", "ﬁ", "ΐ", "ᾳ", "ᾼ", "ᾀ", "ᾈ",
	"µ", "ÿ", "Ÿ", "ſ", "K", "Å", "Ω",
	"Ⓐⓐ", "ａＡ", "𐐀𐐨", "ꭰ", "Ꭰ", "ǰ", "ẞß",
	"tab\tnew\nline", "日本語", "émoji 😀",
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go run . OUT_DIR")
		os.Exit(2)
	}
	out := os.Args[1]

	var cases tmplCases
	src, err := os.ReadFile("cases.json")
	check(err)
	check(json.Unmarshal(src, &cases))
	golden := tmplGolden{Data: cases.Data}
	for _, t := range cases.Templates {
		golden.Cases = append(golden.Cases, render(t, cases.Data))
	}
	write(filepath.Join(out, "template.json"), golden)

	cf := caseFile{GoVersion: runtime.Version(), UnicodeVersion: unicode.Version}
	for _, s := range caseStrings {
		cf.Strings = append(cf.Strings, caseString{
			In: s, Upper: strings.ToUpper(s), Lower: strings.ToLower(s), Title: strings.ToTitle(s),
		})
	}
	for r := rune(0); r <= unicode.MaxRune; r++ {
		u, l, t := unicode.ToUpper(r), unicode.ToLower(r), unicode.ToTitle(r)
		if u != r || l != r || t != r {
			cf.Runes = append(cf.Runes, fmt.Sprintf("%04X %04X %04X %04X", r, u, l, t))
		}
	}
	write(filepath.Join(out, "case.json"), cf)
}

func write(name string, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", " ")
	check(enc.Encode(v))
	check(os.WriteFile(name, buf.Bytes(), 0o644))
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
