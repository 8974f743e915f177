package bench

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

const usage = `usage: factory-bench [--quick] [--json FILE] [--only FIGURES] [--profile DIR] [--quiet]

factory-bench measures factoryd against the targets of DESIGN.md, each figure with its physical
baseline in the same run: create → first reply (confined vs plain fork/exec), a trivial call
through the daemon (vs raw 16-byte messages over the same two hops), idle memory per live
yield, durable billing charges per second (vs a plain bbolt group-commit loop) and the holes
audit of factory graphs up to 10,000 components (vs the audit of a 1-component factory). It builds factoryd from this module, runs it in a temporary directory, prints a table
and removes everything it started. Run it from the module (go run ./cmd/factory-bench), as
root or with unprivileged user namespaces. See docs/BENCHMARKS.md.

flags:
`

// Main runs the command with args (without the program name) and returns its exit status:
// the table on stdout, progress and errors on stderr.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	opts, jsonPath, err := parseArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "factory-bench:", err)
		return 2
	}
	rep, err := Run(ctx, opts)
	if err == nil {
		err = rep.WriteTable(stdout)
	}
	if err == nil && jsonPath != "" {
		err = writeReport(jsonPath, rep)
	}
	if err != nil {
		fmt.Fprintln(stderr, "factory-bench:", err)
		return 1
	}
	return 0
}

func parseArgs(args []string, stderr io.Writer) (*Options, string, error) {
	fs := flag.NewFlagSet("factory-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	quick := fs.Bool("quick", false, "small sizes and few samples: a smoke test of well under a minute")
	jsonPath := fs.String("json", "", "also write the report as JSON to `FILE` (- for stdout)")
	only := fs.String("only", "", "comma-separated figures to run: "+strings.Join(Figures, ", ")+" (default all)")
	profile := fs.String("profile", "", "run factoryd with profiling and write pprof profiles to `DIR`")
	quiet := fs.Bool("quiet", false, "no progress lines on stderr")
	if err := fs.Parse(args); err != nil {
		return nil, "", err
	}
	if fs.NArg() > 0 {
		return nil, "", fmt.Errorf("unexpected argument %q (see --help)", fs.Arg(0))
	}
	opts := &Options{Quick: *quick, ProfileDir: *profile}
	if !*quiet {
		opts.Progress = stderr
	}
	if *only != "" {
		for _, f := range strings.Split(*only, ",") {
			if !slices.Contains(Figures, f) {
				return nil, "", fmt.Errorf("--only: unknown figure %q (want one of %s)", f, strings.Join(Figures, ", "))
			}
			opts.Only = append(opts.Only, f)
		}
	}
	return opts, *jsonPath, nil
}

// writeReport writes rep as indented JSON to path, or to stdout for "-".
func writeReport(path string, rep *Report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if path == "-" {
		_, err = os.Stdout.Write(b)
		return err
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}
