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
	say("a builder publishes its program as a factory, with a rate table as an immutable component,\nand seals it: from now on nothing can be installed into it")
	if err := d.ctl(ctx, "", "factory", "new", "tax", "--program", d.bin("taxprep"),
		"--data", "rates="+filepath.Join(d.root, "examples", "taxprep", "rates.txt"), "--seal"); err != nil {
		return err
	}
	if err := d.ctl(ctx, "", "factory", "show", "tax"); err != nil {
		return err
	}
	say("a requestor runs a confined instance on its secret income: the instance sees only the rate\ntable and the input, in its own namespaces, with no network and an empty read-only root")
	if err := d.ctl(ctx, "income=85000 deductions=12000", "run", "tax", "--input", "-"); err != nil {
		return err
	}
	say("the instance ended with the call; none is left running")
	return d.ctl(ctx, "", "instance", "ls")
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
		shown[i] = strings.ReplaceAll(a, d.dir+"/", "")
		shown[i] = strings.ReplaceAll(shown[i], d.root+"/", "")
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
	fmt.Printf("# "+strings.ReplaceAll(format, "\n", "\n# ")+"\n\n", args...)
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
