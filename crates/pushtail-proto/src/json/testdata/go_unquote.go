//go:build ignore

// Produces go_unquote.golden.json: what Go's encoding/json decodes each
// JSON string literal to. Run: go run go_unquote.go > go_unquote.golden.json
package main

import (
	"encoding/json"
	"os"
)

type golden struct {
	In  []int  `json:"in"`
	Out string `json:"out"`
}

func main() {
	cases := []string{
		"\"plain\"",
		`"\ud83d\ude00"`,
		`"\\ud800"`,
		"\"a\xffb\"",
		"\"\xe2\x82A\"",
		"\"\xed\xa0\x80\"",
		"\"\xc0\x80\"",
		"\"\xf0\x9f\x98\"",
		"\"\xf5\x80\x80\x80\"",
		"\"\x80\xbf\"",
		"\"\xe0\x80\xaf\"",
		`"\ud800"`,
		`"\udc00x"`,
		`"\ud800\u0041"`,
		`"\ud800\ud83d\ude00"`,
		`"\ud83d\ude00\udc00"`,
		`"\udbff\udfff"`,
		`"\\\ud800"`,
		"\"\\ud800\xff\"",
		"\"\\\"\xff\\\"\"",
	}
	var out []golden
	for _, c := range cases {
		var s string
		if err := json.Unmarshal([]byte(c), &s); err != nil {
			panic(err)
		}
		in := make([]int, len(c))
		for i := range c {
			in[i] = int(c[i])
		}
		out = append(out, golden{In: in, Out: s})
	}
	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(out); err != nil {
		panic(err)
	}
}
