// Command factory-demo shows factoryd's main job end to end with nothing configured: it builds
// factoryd, factoryctl and the tax-preparer example, starts the daemon in a temporary data
// directory, publishes and seals the example as a factory, runs a confined instance of it on a
// secret input, shows the result, and stops, removing everything it made.
//
//	go run ./cmd/factory-demo
package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "factory-demo:", err)
		os.Exit(1)
	}
}

type demo struct {
	root, dir, socket string
}

func run(ctx context.Context) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "factory-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	d := &demo{root: root, dir: dir, socket: filepath.Join(dir, "factoryd.sock")}
	say("building factoryd, factoryctl and the tax-preparer example into %s", dir)
	if err := d.build(); err != nil {
		return err
	}
	daemon, err := d.startDaemon(ctx)
	if err != nil {
		return err
	}
	defer d.stopDaemon(daemon)
	return d.script(ctx)
}

func (d *demo) script(ctx context.Context) error {
	rates := "rates=" + filepath.Join(d.root, "examples", "taxprep", "rates.txt")
	steps := []step{
		{say: "a builder publishes its tax preparer as a factory, with a rate table as an immutable\n" +
			"component, and seals it: from now on nothing can be installed into it",
			args: []string{"factory", "new", "tax", "--program", d.bin("taxprep"), "--data", rates, "--seal"}},
		{say: "another builder publishes the same program, but gives it a \"telemetry\" dropbox it reads",
			args: []string{"factory", "new", "freetax", "--program", d.bin("taxprep"), "--data", rates,
				"--hole", "telemetry=usage analytics", "--seal"}},
		{say: "before handing over a secret, the requestor audits both factories",
			args: []string{"factory", "audit", "tax"}},
		{args: []string{"factory", "audit", "freetax"}},
		{say: "and checks freetax against a policy: a factory whose holes are the ones it accepts (tax has none)",
			args: []string{"factory", "compare", "freetax", "tax"}},
		{say: "the requestor runs a confined instance of the discreet factory on its secret income: it\n" +
			"sees only the rate table and the input, in its own namespaces, with no network and an\n" +
			"empty read-only root",
			stdin: "income=85000 deductions=12000", args: []string{"run", "tax", "--input", "-"}},
		{say: "had it trusted freetax instead, its builder would now read the secret from the dropbox",
			stdin: "income=85000 deductions=12000", args: []string{"run", "freetax", "--input", "-"}},
		{args: []string{"factory", "dropbox", "freetax", "telemetry"}},
		{say: "the audit log records what happened to the factories (instance events are the requestor's alone)",
			args: []string{"audit", "log", "--limit", "8"}},
	}
	for _, st := range steps {
		if st.say != "" {
			say("%s", st.say)
		}
		if err := d.ctl(ctx, st.stdin, st.args...); err != nil {
			return err
		}
	}
	return nil
}

// step is one command of the demo, with what it shows.
type step struct {
	say   string
	stdin string
	args  []string
}

func (d *demo) bin(name string) string { return filepath.Join(d.dir, name) }

func (d *demo) build() error {
	cmd := exec.Command("go", "build", "-o", d.dir+string(filepath.Separator),
		"./cmd/factoryd", "./cmd/factoryctl", "./examples/taxprep")
	cmd.Dir = d.root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd.Run()
}

func (d *demo) startDaemon(ctx context.Context) (*exec.Cmd, error) {
	var log bytes.Buffer
	cmd := exec.Command(d.bin("factoryd"), "--data", filepath.Join(d.dir, "data"), "--socket", d.socket, "--log-level", "warn")
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	say("started factoryd (pid %d) with its data in %s", cmd.Process.Pid, filepath.Join(d.dir, "data"))
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("unix", d.socket); err == nil {
			c.Close()
			return cmd, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	d.stopDaemon(cmd)
	return nil, fmt.Errorf("factoryd did not start:\n%s", log.String())
}

func (d *demo) stopDaemon(cmd *exec.Cmd) {
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			say("stopped factoryd; removing %s", d.dir)
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

// ctl runs factoryctl with args, feeding it stdin, and shows the command and its output.
func (d *demo) ctl(ctx context.Context, stdin string, args ...string) error {
	shown := append([]string{"factoryctl"}, args...)
	for i, a := range shown {
		a = strings.ReplaceAll(a, d.dir+"/", "")
		a = strings.ReplaceAll(a, d.root+"/", "")
		if strings.Contains(a, " ") {
			k, v, _ := strings.Cut(a, "=")
			a = fmt.Sprintf("%s=%q", k, v)
		}
		shown[i] = a
	}
	prefix := "$ "
	if stdin != "" {
		prefix = fmt.Sprintf("$ echo %q | ", stdin)
	}
	fmt.Println(prefix + strings.Join(shown, " "))
	cmd := exec.CommandContext(ctx, d.bin("factoryctl"), append([]string{"--socket", d.socket}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stdout
	err := cmd.Run()
	fmt.Println()
	return err
}

func say(format string, args ...any) {
	fmt.Print("# " + strings.ReplaceAll(fmt.Sprintf(format, args...), "\n", "\n# ") + "\n\n")
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("run the demo from inside the factoryd module (go run ./cmd/factory-demo)")
	}
	return filepath.Dir(mod), nil
}
