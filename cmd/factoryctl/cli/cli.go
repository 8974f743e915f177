// Package cli is factoryctl: one file per command ("noun verb"), each reaching the daemon only
// through package client. Results go to stdout, errors to stderr with a non-zero status: 1 for
// a failed operation, 2 for a usage error.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/factoryd/factoryd/client"
)

// IO is where a command reads and writes.
type IO struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// Stdio returns the process's standard streams.
func Stdio() IO { return IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr} }

// env is what every command runs with.
type env struct {
	IO
	socket  string
	timeout time.Duration
	cmd     *command // the command running
}

// dial connects to the daemon.
func (e *env) dial(ctx context.Context) (*client.Client, error) {
	return client.Dial(ctx, e.socket)
}

// command is one "noun verb" of factoryctl.
type command struct {
	name    string // e.g. "factory new"
	args    string // synopsis of the arguments
	summary string
	run     func(ctx context.Context, e *env, args []string) error
}

// commands lists every command; each is defined in the file named after it.
var commands []*command

func register(c *command) { commands = append(commands, c) }

// errUsage marks an error as the caller's: exit status 2.
var errUsage = errors.New("usage")

func usageErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
}

const globalUsage = `usage: factoryctl [--socket PATH] [--timeout DURATION] COMMAND [ARGS]

factoryctl publishes programs as factories on factoryd, runs confined instances of them, and
inspects what the daemon holds. --socket (or $FACTORYD_SOCKET) picks a daemon other than the
default one.

commands:
`

// Main runs factoryctl with args (without the program name) and returns the exit status.
func Main(ctx context.Context, args []string, io IO) int {
	e := &env{IO: io}
	rest, err := parseGlobal(e, args)
	if err == nil {
		err = dispatch(ctx, e, rest)
	}
	switch {
	case err == nil || errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintln(e.Stderr, "factoryctl:", strings.TrimPrefix(err.Error(), "usage: "))
		return 2
	}
	fmt.Fprintln(e.Stderr, "factoryctl:", err)
	return 1
}

func parseGlobal(e *env, args []string) ([]string, error) {
	fs := flag.NewFlagSet("factoryctl", flag.ContinueOnError)
	fs.SetOutput(e.Stderr)
	fs.Usage = func() { printUsage(e.Stderr) }
	fs.StringVar(&e.socket, "socket", "", "daemon socket (default $FACTORYD_SOCKET, else the daemon's default)")
	fs.DurationVar(&e.timeout, "timeout", 0, "give up after this long (default: no limit)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	return fs.Args(), nil
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, globalUsage)
	sorted := append([]*command(nil), commands...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].name < sorted[j].name })
	for _, c := range sorted {
		fmt.Fprintf(w, "  %-40s %s\n", c.name+" "+c.args, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'factoryctl COMMAND --help' for a command's flags.")
}

// dispatch finds the longest command name that prefixes args and runs it.
func dispatch(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] == "help" {
		printUsage(e.Stdout)
		return nil
	}
	for _, c := range commands {
		words := strings.Fields(c.name)
		if len(args) >= len(words) && strings.Join(args[:len(words)], " ") == c.name {
			if e.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, e.timeout)
				defer cancel()
			}
			e.cmd = c
			return c.run(ctx, e, args[len(words):])
		}
	}
	return usageErr("unknown command %q (see 'factoryctl help')", strings.Join(args, " "))
}

// flags returns a flag set for the running command.
func (e *env) flags() *flag.FlagSet {
	c := e.cmd
	fs := flag.NewFlagSet("factoryctl "+c.name, flag.ContinueOnError)
	fs.SetOutput(e.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.Stderr, "usage: factoryctl %s %s\n\n%s\n", c.name, c.args, c.summary)
		if hasFlags(fs) {
			fmt.Fprintln(e.Stderr, "\nflags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// parse parses a command's flags, allowing them before and after positional arguments, and
// checks the number of positional arguments.
func parse(fs *flag.FlagSet, args []string, min, max int) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %v", errUsage, err)
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if len(pos) < min || (max >= 0 && len(pos) > max) {
		fs.Usage()
		return nil, usageErr("%s: wrong number of arguments", fs.Name())
	}
	return pos, nil
}

// keyValues is a repeatable KEY=VALUE flag.
type keyValues []keyValue

type keyValue struct{ key, value string }

func (kv *keyValues) String() string { return "" }

func (kv *keyValues) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q is not KEY=VALUE", s)
	}
	*kv = append(*kv, keyValue{k, v})
	return nil
}
