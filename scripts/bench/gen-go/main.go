// Command gen-go writes the source of a large, deterministic Go program
// (a module with many packages, each with many distinct functions, methods,
// closures and string tables) into a directory, for benchmarking the
// analyzer on a Go binary with its symbol table and DWARF.
//
//	go run ./scripts/bench/gen-go -out DIR -packages 120 -funcs 600
//	cd DIR && go build -o big-go .
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

func main() {
	out := flag.String("out", "", "directory to write the module into")
	packages := flag.Int("packages", 120, "number of packages")
	funcs := flag.Int("funcs", 600, "functions per package")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "gen-go: -out DIR is required")
		os.Exit(2)
	}
	must(os.MkdirAll(*out, 0o755))
	write(filepath.Join(*out, "go.mod"), "module example.com/bigapp\n\ngo 1.19\n")
	var main strings.Builder
	main.WriteString("package main\n\nimport (\n\t\"fmt\"\n\t\"os\"\n")
	for p := 0; p < *packages; p++ {
		fmt.Fprintf(&main, "\tp%03d \"example.com/bigapp/internal/area%d/p%03d\"\n", p, p%7, p)
	}
	main.WriteString(")\n\nfunc main() {\n\tsum := 0\n\tseed := len(os.Args)\n")
	for p := 0; p < *packages; p++ {
		fmt.Fprintf(&main, "\tsum += p%03d.Run(seed)\n", p)
	}
	main.WriteString("\tfmt.Println(sum)\n}\n")
	write(filepath.Join(*out, "main.go"), main.String())
	for p := 0; p < *packages; p++ {
		dir := filepath.Join(*out, "internal", fmt.Sprintf("area%d", p%7), fmt.Sprintf("p%03d", p))
		must(os.MkdirAll(dir, 0o755))
		write(filepath.Join(dir, "code.go"), pkg(p, *funcs))
	}
}

// pkg is the source of package number p: funcs functions of a few shapes,
// all reachable from Run so the linker keeps them.
func pkg(p, funcs int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "package p%03d\n\nimport (\n\t\"sort\"\n\t\"strconv\"\n\t\"strings\"\n)\n\n", p)
	fmt.Fprintf(&b, "type Item%d struct {\n\tName  string\n\tValue int\n\tTags  []string\n}\n\n", p)
	for f := 0; f < funcs; f++ {
		switch f % 4 {
		case 0:
			fmt.Fprintf(&b, "func F%d(n int) int {\n\tx := n*%d + %d\n\tfor i := 0; i < n%%%d+3; i++ {\n\t\tif x%%%d == 0 {\n\t\t\tx = x/3 + i*%d\n\t\t} else {\n\t\t\tx = x*7 ^ %d\n\t\t}\n\t}\n\treturn x\n}\n\n",
				f, p+f+1, f*31+p, f%13+2, f%5+2, f+p, f*p+17)
		case 1:
			fmt.Fprintf(&b, "var table%d = []string{%q, %q, %q, %q}\n\nfunc F%d(n int) int {\n\ts := table%d[n%%4] + strconv.Itoa(n+%d)\n\tparts := strings.Split(s, \"-\")\n\treturn len(parts) + len(s) + strings.Count(s, %q)\n}\n\n",
				f, fmt.Sprintf("p%d-f%d-alpha-%d", p, f, f*p), fmt.Sprintf("p%d-f%d-beta-%d", p, f, f+p),
				fmt.Sprintf("gamma-%d-%d", p, f), fmt.Sprintf("delta-%d-%d-%s", p, f, strings.Repeat("x", f%40)),
				f, f, f*3, fmt.Sprintf("%d", f%10))
		case 2:
			fmt.Fprintf(&b, "func F%d(n int) int {\n\titems := make([]Item%d, 0, n%%8+1)\n\tfor i := 0; i < n%%8+1; i++ {\n\t\titems = append(items, Item%d{Name: strconv.Itoa(i * %d), Value: i ^ %d})\n\t}\n\tsort.Slice(items, func(a, b int) bool { return items[a].Value*%d < items[b].Value+%d })\n\ttotal := 0\n\tfor _, it := range items {\n\t\ttotal += it.Value + len(it.Name)\n\t}\n\treturn total\n}\n\n",
				f, p, p, f+1, f*p+3, f%9+1, f)
		default:
			fmt.Fprintf(&b, "type T%d struct{ a, b int }\n\nfunc (t *T%d) Step(n int) int {\n\tswitch n %% 5 {\n\tcase 0:\n\t\treturn t.a*%d + n\n\tcase 1:\n\t\treturn t.b ^ %d\n\tcase 2:\n\t\treturn (t.a + t.b) / (n%%3 + 1)\n\tdefault:\n\t\treturn t.a - t.b + %d\n\t}\n}\n\nfunc F%d(n int) int {\n\tt := &T%d{a: n, b: %d}\n\tf := func(k int) int { return t.Step(k) + %d }\n\treturn f(n) + f(n+1)\n}\n\n",
				f, f, f+3, p*f+1, f, f, f, p, f%11)
		}
	}
	fmt.Fprintf(&b, "var all = []func(int) int{\n")
	for f := 0; f < funcs; f++ {
		fmt.Fprintf(&b, "\tF%d,\n", f)
	}
	fmt.Fprintf(&b, "}\n\n// Run calls every function once.\nfunc Run(seed int) int {\n\tsum := 0\n\tfor i, f := range all {\n\t\tsum += f(seed + i)\n\t}\n\treturn sum\n}\n")
	return b.String()
}

func write(path, text string) { must(os.WriteFile(path, []byte(text), 0o644)) }

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen-go:", err)
		os.Exit(1)
	}
}
