// Command stages writes the golden tables that pushtail's Go-compatibility
// code (crates/pushtail-pipeline/src/go/) is tested against: what real Go
// does with time.Parse, encoding/json number formatting, strconv.Unquote
// and go-logfmt's decoder over the input tables below.
//
// Run it with ./regen.sh (see README.md in this directory); the output is
// committed, so the Rust tests need no Go toolchain.
package main

import (
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/go-logfmt/logfmt"
	"github.com/shopspring/decimal"
)

func main() {
	out := flag.String("out", "../../../crates/pushtail-pipeline/src/go/testdata", "output directory")
	flag.Parse()
	write(*out, "time_parse.json", timeParse())
	write(*out, "json_numbers.json", jsonNumbers())
	write(*out, "literals.json", literals())
	write(*out, "logfmt.json", logfmtCases())
	write(*out, "sprint_float.json", sprintFloats())
	write(*out, "parse_ip.json", parseIPs())
	write(*out, "sprig_decimal.json", decimalCases())
}

func write(dir, name string, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		panic(err)
	}
	b = append(b, '\n')
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
		panic(err)
	}
}

// ---- time.Parse ----

type timeCase struct {
	Layout   string `json:"layout"`
	Value    string `json:"value"`
	Location string `json:"location,omitempty"`
	// Wall clock as parsed (year may be 0 for layouts without a year).
	Wall string `json:"wall,omitempty"`
	// Offset east of UTC in seconds of the parsed time's zone.
	Offset int    `json:"offset"`
	Error  string `json:"error,omitempty"`
}

var timeInputs = []struct{ layout, value, location string }{
	{time.RFC3339, "2019-07-09T21:48:36Z", ""},
	{time.RFC3339, "2019-07-09T21:48:36+02:00", ""},
	{time.RFC3339, "2019-07-09T21:48:36.123Z", ""},
	{time.RFC3339, "2019-07-09T21:48:36.123456789123Z", ""},
	{time.RFC3339, "2019-07-09 21:48:36Z", ""},
	{time.RFC3339, "2019-07-09T21:48:36", ""},
	{time.RFC3339, "2019-07-09T21:48:36Z", "America/New_York"},
	{time.RFC3339, "2019-02-29T21:48:36Z", ""},
	{time.RFC3339, "2019-13-09T21:48:36Z", ""},
	{time.RFC3339, "2019-07-09T24:48:36Z", ""},
	{time.RFC3339, "2019-07-09T21:48:36+24:00", ""},
	{time.RFC3339, "2019-07-09T21:48:36+25:00", ""},
	{time.RFC3339, "2019-7-09T21:48:36Z", ""},
	{time.RFC3339Nano, "2019-10-01T01:02:03.400000000Z", ""},
	{time.RFC3339Nano, "2019-10-01T01:02:03.123456789-07:00", ""},
	{time.RFC3339Nano, "2019-10-01T01:02:03Z", ""},
	{time.RFC3339Nano, "2019-10-01T01:02:03.Z", ""},
	{time.RFC3339Nano, "2019-10-01T01:02:03,5Z", ""},
	{"2006-01-02T15:04:05.000Z07:00", "2019-10-01T01:02:03.123Z", ""},
	{"2006-01-02T15:04:05.000Z07:00", "2019-10-01T01:02:03.12Z", ""},
	{"2006-01-02T15:04:05.000Z07:00", "2019-10-01T01:02:03.1234Z", ""},
	{"2006-01-02T15:04:05.000Z07:00", "2019-10-01T01:02:03Z", ""},
	{"2006-01-02T15:04:05.000000Z07:00", "2019-10-01T01:02:03.123456Z", ""},
	{"2006-01-02T15:04:05.999Z07:00", "2019-10-01T01:02:03.1234567Z", ""},
	{"2006-01-02 15:04:05,000", "2019-10-01 01:02:03,250", ""},
	{"2006-01-02 15:04:05,000", "2019-10-01 01:02:03.250", ""},
	{"2006-01-02 15:04:05", "2019-10-01 01:02:03.987654", ""},
	{"2006-01-02 15:04:05", "2019-10-01 01:02:03", "Europe/Berlin"},
	{"2006-01-02 15:04:05", "2019-03-31 02:30:00", "Europe/Berlin"},
	{"2006-01-02 15:04:05", "2019-10-27 02:30:00", "Europe/Berlin"},
	{time.ANSIC, "Tue Jul  9 21:48:36 2019", ""},
	{time.ANSIC, "Mon Jul  9 21:48:36 2019", ""},
	{time.ANSIC, "Xyz Jul  9 21:48:36 2019", ""},
	{time.ANSIC, "Tue Jul 19 21:48:36 2019", ""},
	{time.UnixDate, "Tue Jul  9 21:48:36 UTC 2019", ""},
	{time.UnixDate, "Tue Jul  9 21:48:36 PST 2019", ""},
	{time.UnixDate, "Tue Jul  9 21:48:36 EDT 2019", "America/New_York"},
	{time.UnixDate, "Tue Jan  8 21:48:36 EST 2019", "America/New_York"},
	{time.UnixDate, "Tue Jul  9 21:48:36 GMT+3 2019", ""},
	{time.RubyDate, "Tue Jul 09 21:48:36 -0700 2019", ""},
	{time.RFC822, "09 Jul 19 21:48 UTC", ""},
	{time.RFC822, "09 Jul 68 21:48 UTC", ""},
	{time.RFC822, "09 Jul 69 21:48 UTC", ""},
	{time.RFC822Z, "09 Jul 19 21:48 +0130", ""},
	{time.RFC850, "Tuesday, 09-Jul-19 21:48:36 UTC", ""},
	{time.RFC850, "Friday, 09-Jul-19 21:48:36 UTC", ""},
	{time.RFC1123, "Tue, 09 Jul 2019 21:48:36 GMT", ""},
	{time.RFC1123, "tue, 09 jul 2019 21:48:36 GMT", ""},
	{time.RFC1123Z, "Tue, 09 Jul 2019 21:48:36 -0000", ""},
	{time.Kitchen, "9:48PM", ""},
	{time.Kitchen, "12:01AM", ""},
	{time.Kitchen, "12:01PM", ""},
	{time.Kitchen, "13:01PM", ""},
	{"3:04pm", "9:48pm", ""},
	{"Jan 02 15:04:05", "Dec 31 23:59:59", ""},
	{"Jan _2 15:04:05", "Jul  9 21:48:36", ""},
	{"Jan _2 15:04:05", "Jul 19 21:48:36", ""},
	{"Jan 2 15:04:05", "Jul 9 21:48:36", ""},
	{"Jan 02 15:04:05", "Jul 9 21:48:36", ""},
	{"Jan 02 15:04:05", "Feb 29 10:00:00", ""},
	{"January 2, 2006", "March 7, 2021", ""},
	{"January 2, 2006", "Mar 7, 2021", ""},
	{"15:04:05", "21:48:36", ""},
	{"15:04:05", "21:48:36.5", ""},
	{"15:04", "9:05", ""},
	{"15:04:05.000", "21:48:36.5", ""},
	{"2006-01-02", "2021-03-07", ""},
	{"2006-01-02", "2021-03-07 ", ""},
	{"2006-01-02", "2021-3-7", ""},
	{"2006-1-2", "2021-3-7", ""},
	{"2006-1-2", "2021-03-07", ""},
	{"2006-002", "2020-060", ""},
	{"2006-002", "2021-060", ""},
	{"2006-__2", "2021- 60", ""},
	{"2006-002", "2021-366", ""},
	{"02/Jan/2006:15:04:05 -0700", "09/Jul/2019:21:48:36 +0200", ""},
	{"02/Jan/2006:15:04:05 -07:00", "09/Jul/2019:21:48:36 +02:00", ""},
	{"2006-01-02T15:04:05-07", "2019-07-09T21:48:36+05", ""},
	{"2006-01-02T15:04:05Z07", "2019-07-09T21:48:36Z", ""},
	{"2006-01-02T15:04:05-07:00:00", "2019-07-09T21:48:36+01:02:03", ""},
	{"2006-01-02T15:04:05Z070000", "2019-07-09T21:48:36-010203", ""},
	{"2006-01-02 15:04:05 MST", "2019-07-09 21:48:36 CEST", ""},
	{"2006-01-02 15:04:05 MST", "2019-07-09 21:48:36 CEST", "Europe/Berlin"},
	{"2006-01-02 15:04:05 MST", "2019-07-09 21:48:36 XX", ""},
	{"2006-01-02 15:04:05 MST", "2019-07-09 21:48:36 +03", ""},
	{"2006-01-02  15:04:05", "2019-07-09 21:48:36", ""},
	{"2006-01-02 15:04:05", "2019-07-09    21:48:36", ""},
	{"_2006", "_2019", ""},
	{"Monday 2006", "Funday 2019", ""},
	{"Mon 2006", "Sat 2019", ""},
	{"2006 Mon", "2019 Satx", ""},
	{"Jan", "jAN", ""},
	{"Janet 2006", "Janet 2019", ""},
	{"2006 Month", "2019 Month", ""},
	{"06-01-02", "19-07-09", ""},
	{"06-01-02", "9-07-09", ""},
	{"2006-01-02T15:04:05.000000000Z", "2019-07-09T21:48:36.123456789Z", ""},
	{"2006-01-02 15:04:05.999999999 -0700 MST", "2019-07-09 21:48:36.5 +0200 CEST", ""},
	{"2006-01-02T15:04:05Z", "2019-07-09T21:48:36Z", "Asia/Tokyo"},
	{"2006-01-02T15:04:05", "2019-07-09T21:48:36", "Asia/Tokyo"},
	{"20060102150405", "20190709214836", ""},
	{"2006-01-02T15:04:05.000", "2019-07-09T21:48:36.000123", ""},
	{"15:04:05.999", "21:48:36", ""},
	{"15:04:05.999", "21:48:36.", ""},
	{"", "", ""},
	{"", "x", ""},
}

func timeParse() []timeCase {
	out := make([]timeCase, 0, len(timeInputs))
	for _, in := range timeInputs {
		c := timeCase{Layout: in.layout, Value: in.value, Location: in.location}
		var t time.Time
		var err error
		if in.location == "" {
			t, err = time.Parse(in.layout, in.value)
		} else {
			loc, lerr := time.LoadLocation(in.location)
			if lerr != nil {
				panic(lerr)
			}
			t, err = time.ParseInLocation(in.layout, in.value, loc)
		}
		if err != nil {
			c.Error = err.Error()
		} else {
			c.Wall = fmt.Sprintf("%04d-%02d-%02dT%02d:%02d:%02d.%09d",
				t.Year(), int(t.Month()), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond())
			_, c.Offset = t.Zone()
		}
		out = append(out, c)
	}
	return out
}

// ---- encoding/json: what the json stage stores for objects and arrays ----

type jsonCase struct {
	Input  string `json:"input"`
	Output string `json:"output"`
}

var jsonInputs = []string{
	`[1e-7]`, `[-0.0]`, `[-0]`, `[1e20]`, `[1e21]`, `[100000000000000000000]`,
	`[0.000001]`, `[0.0000001]`, `[1.5e300]`, `[-1.5e-300]`, `[5e-324]`,
	`[123456789012345678901234567890]`, `[9007199254740993]`, `[12345678901234567890]`,
	`[1.0]`, `[1.25]`, `[0.1]`, `[3.0e2]`, `[1E+2]`, `[-12.5e-8]`, `[123456.789e3]`,
	`[1.7976931348623157e308]`, `[2.2250738585072014e-308]`, `[999999999999999999999]`,
	`{"b":{"z":1,"a":[true,null,"x"]},"a":0.5}`,
	`{"html":"<b>&amp;</b>","ls":"\u2028\u2029"}`,
	`{"ctl":"\u0001\t\n\u007f","uni":"é☃😀"}`,
	`[[],{}]`,
}

func jsonNumbers() []jsonCase {
	out := make([]jsonCase, 0, len(jsonInputs))
	for _, in := range jsonInputs {
		var v any
		if err := json.Unmarshal([]byte(in), &v); err != nil {
			panic(err)
		}
		b, err := json.Marshal(v)
		if err != nil {
			panic(err)
		}
		out = append(out, jsonCase{Input: in, Output: string(b)})
	}
	return out
}

// ---- strconv.Unquote: Go string literals ----

type literalCase struct {
	Input string `json:"input"`
	// The decoded bytes in hex (they need not be UTF-8).
	Hex   string `json:"hex,omitempty"`
	Error bool   `json:"error,omitempty"`
}

var literalInputs = []string{
	`""`, `"abc"`, `"a\"b"`, `"\n\t\\"`, `"\a\b\f\r\v"`, `"\x41\u00e9\101"`,
	`"\377"`, `"\xff"`, `"\xc3\xa9"`, `"\303\251"`, `"\400"`, `"\0"`, `"\07"`, `"\08"`,
	`"\u00e9"`, `"\U0001F600"`, `"\ud800"`, `"\U00110000"`, `"\x4"`, `"\xg0"`,
	`"\'"`, `"'"`, `"\q"`, `"a` + "\n" + `b"`, `"abc`, `"a"b"`, "`raw\\n`", "`a\rb`",
	"`a\"b`", "`a", `"é"`, `"\u00"`, `"tab	in"`,
}

func literals() []literalCase {
	out := make([]literalCase, 0, len(literalInputs))
	for _, in := range literalInputs {
		c := literalCase{Input: in}
		s, err := strconv.Unquote(in)
		if err != nil {
			c.Error = true
		} else {
			c.Hex = hex.EncodeToString([]byte(s))
		}
		out = append(out, c)
	}
	return out
}

// ---- go-logfmt: what Promtail's logfmt stage sees ----

type logfmtCase struct {
	Input string      `json:"input"`
	Pairs [][2]string `json:"pairs"`
	Error string      `json:"error,omitempty"`
}

var logfmtInputs = []string{
	"a=1 b=two",
	`msg="hello \"w\"" lvl=info`,
	"flag x=",
	`a=1 b="open`,
	"",
	"eq=a=b c=d",
	"a=1 eq=a=b c=d",
	`a="x"y b=2`,
	`a=x"y b=2`,
	`"a"=1`,
	"=1 a=2",
	"a==1",
	`a="\u00e9\n\t\/" b=1`,
	`a="\x41" b=1`,
	`a="tab	inside" b=1`,
	"  lead=1   trail=2  ",
	"k=v\nk2=v2",
	"k=v\n\nk2=v2",
	"a=é b=☃",
	"é=1",
	"a=1\tb=2",
	`a="" b=`,
	"a b c",
	"a=1 a=2",
	`a="quoted with spaces" b="x=y"`,
	"level=info msg=hello\\ world",
	`path=/a/b?c=d`,
}

func logfmtCases() []logfmtCase {
	out := make([]logfmtCase, 0, len(logfmtInputs))
	for _, in := range logfmtInputs {
		c := logfmtCase{Input: in, Pairs: [][2]string{}}
		d := logfmt.NewDecoder(strings.NewReader(in))
		for d.ScanRecord() {
			for d.ScanKeyval() {
				c.Pairs = append(c.Pairs, [2]string{string(d.Key()), string(d.Value())})
			}
		}
		if err := d.Err(); err != nil {
			c.Error = err.Error()
		}
		out = append(out, c)
	}
	return out
}

// ---- fmt.Sprint of a float64 (the geoip stage's coordinates) ----

type floatCase struct {
	Input  float64 `json:"input"`
	Output string  `json:"output"`
}

var floatInputs = []float64{
	0, 1, -1, 0.5, 39.1027, -94.5778, 51.5142, -0.0931, 180, -180, 90, -90,
	1e-4, 1.5e-4, 9.99e-5, 5e-5, -5e-5, 1e-5, 1.23456789e-7, 5e-324,
	123456, 999999, 999999.9, 1e6, -1e6, 1234567, 1.5e6, 1e20, 1e21, 1e100,
	0.1, 0.2, 0.30000000000000004, 1.0 / 3, 2.0 / 3, 100, 12.345678901234567,
	1.7976931348623157e308, 2.2250738585072014e-308,
}

func sprintFloats() []floatCase {
	out := make([]floatCase, 0, len(floatInputs))
	for _, f := range floatInputs {
		out = append(out, floatCase{Input: f, Output: fmt.Sprint(f)})
	}
	return out
}

// ---- sprig's float arithmetic (addf, add1f, subf, mulf, divf) ----
//
// sprig v3 computes these with shopspring/decimal (v1.4.0 in its go.mod)
// through the helper below, which is sprig's execDecimalOp: each operand
// becomes the decimal of its shortest digits, the operation is exact
// (division rounds to 16 places), the result is the nearest float64.

type decimalCase struct {
	Op   string    `json:"op"`
	Args []float64 `json:"args"`
	// strconv.FormatFloat(result, 'g', -1, 64): JSON cannot carry ±Inf.
	Output string `json:"output,omitempty"`
	// The panic sprig's function raised (text/template reports it).
	Error string `json:"error,omitempty"`
}

var decimalInputs = []struct {
	op   string
	args []float64
}{
	{"addf", nil}, {"addf", []float64{1.1, 2.2}}, {"addf", []float64{0.1, 0.2}},
	{"addf", []float64{0.1, 0.2, 0.3}}, {"addf", []float64{1e300, 1e-300}},
	{"addf", []float64{-0.5, 0.5}}, {"addf", []float64{1.5, 2}}, {"addf", []float64{3, math.Copysign(0, -1)}},
	{"addf", []float64{1e308, 1e308}}, {"addf", []float64{5e-324, 5e-324}},
	{"addf", []float64{0.1, 0.7}}, {"addf", []float64{123456789.123, 0.877}},
	{"addf", []float64{9007199254740992, 1}}, {"addf", []float64{1.7976931348623157e308, 1e292}},
	{"add1f", []float64{0.1}}, {"add1f", []float64{-1}}, {"add1f", []float64{1e16}},
	{"add1f", []float64{0.2}},
	{"subf", []float64{0.3, 0.1}}, {"subf", []float64{1, 0.9}}, {"subf", []float64{-1e-7, 1e-7}},
	{"subf", []float64{1e16, 1}}, {"subf", []float64{5}}, {"subf", []float64{0.3, 0.1, 0.2}},
	{"mulf", []float64{1.1, 1.1}}, {"mulf", []float64{0.1, 3}}, {"mulf", []float64{1e200, 1e200}},
	{"mulf", []float64{1e-200, 1e-200}}, {"mulf", []float64{-2.5, 4}}, {"mulf", []float64{123.456, 0.001}},
	{"mulf", []float64{0.07, 100}}, {"mulf", []float64{1.15, 100}}, {"mulf", []float64{3}},
	{"divf", []float64{1, 3}}, {"divf", []float64{2, 3}}, {"divf", []float64{-2, 3}},
	{"divf", []float64{10, 4}}, {"divf", []float64{1, 7}}, {"divf", []float64{1e-20, 3}},
	{"divf", []float64{1e20, 3}}, {"divf", []float64{0.3, 0.1}}, {"divf", []float64{5e-17, 1}},
	{"divf", []float64{-5e-17, 1}}, {"divf", []float64{4.9e-17, 1}}, {"divf", []float64{-1, 3}},
	{"divf", []float64{0, 5}}, {"divf", []float64{22, 7, 3}}, {"divf", []float64{1, 0}},
	{"divf", []float64{1e308, 1e-308}}, {"divf", []float64{1.5e-16, -1}}, {"divf", []float64{2.5e-16, 1}},
	{"divf", []float64{7}},
}

func execDecimalOp(a float64, b []float64, f func(d1, d2 decimal.Decimal) decimal.Decimal) float64 {
	prt := decimal.NewFromFloat(a)
	for _, x := range b {
		prt = f(prt, decimal.NewFromFloat(x))
	}
	rslt, _ := prt.Float64()
	return rslt
}

func decimalOp(op string, args []float64) float64 {
	add := func(d1, d2 decimal.Decimal) decimal.Decimal { return d1.Add(d2) }
	switch op {
	case "addf":
		return execDecimalOp(0, args, add)
	case "add1f":
		return execDecimalOp(args[0], []float64{1}, add)
	case "subf":
		return execDecimalOp(args[0], args[1:], func(d1, d2 decimal.Decimal) decimal.Decimal { return d1.Sub(d2) })
	case "mulf":
		return execDecimalOp(args[0], args[1:], func(d1, d2 decimal.Decimal) decimal.Decimal { return d1.Mul(d2) })
	case "divf":
		return execDecimalOp(args[0], args[1:], func(d1, d2 decimal.Decimal) decimal.Decimal { return d1.Div(d2) })
	}
	panic("unknown op " + op)
}

func decimalCases() []decimalCase {
	out := make([]decimalCase, 0, len(decimalInputs))
	for _, in := range decimalInputs {
		c := decimalCase{Op: in.op, Args: in.args}
		if c.Args == nil {
			c.Args = []float64{}
		}
		func() {
			defer func() {
				if r := recover(); r != nil {
					c.Error = fmt.Sprint(r)
				}
			}()
			c.Output = strconv.FormatFloat(decimalOp(in.op, in.args), 'g', -1, 64)
		}()
		out = append(out, c)
	}
	return out
}

// ---- net.ParseIP (the geoip stage's source) ----

type ipCase struct {
	Input string `json:"input"`
	// The 16-byte form in hex (IPv4 as ::ffff:a.b.c.d); empty when
	// net.ParseIP returns nil.
	Output string `json:"output"`
}

var ipInputs = []string{
	"1.2.3.4", "0.0.0.0", "255.255.255.255", "256.1.1.1", "1.2.3", "1.2.3.4.5",
	"01.2.3.4", "1.2.3.04", "1.2.3.0", " 1.2.3.4", "1.2.3.4 ", "1.2.3.4/24",
	"1.2.3.-4", "+1.2.3.4", "1..3.4", "1.2.3.", "0x1.2.3.4", "1.2.3.4:80",
	"::", "::1", "1::", "2001:db8::1", "2001:DB8::1", "2001:0db8:0000:0000:0000:0000:0000:0001",
	"1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8",
	"1:2:3:4:5:6:7", "1::2::3", ":1::2", "1::2:", "12345::1", "01234::1",
	"::ffff:1.2.3.4", "::FFFF:1.2.3.4", "::1.2.3.4", "64:ff9b::1.2.3.4",
	"1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:7:1.2.3.4", "::ffff:1.2.3", "::ffff:01.2.3.4",
	"fe80::1%eth0", "[::1]", "", "localhost", "not-an-ip", "1.2.3.4\n", "١.٢.٣.٤",
}

func parseIPs() []ipCase {
	out := make([]ipCase, 0, len(ipInputs))
	for _, in := range ipInputs {
		c := ipCase{Input: in}
		if ip := net.ParseIP(in); ip != nil {
			c.Output = hex.EncodeToString(ip.To16())
		}
		out = append(out, c)
	}
	return out
}
