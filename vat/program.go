package vat

import (
	"debug/elf"
	"fmt"
	"io"
	"runtime"
)

// machines maps GOARCH to the ELF machine a program must be built for.
var machines = map[string]elf.Machine{
	"amd64":   elf.EM_X86_64,
	"arm64":   elf.EM_AARCH64,
	"386":     elf.EM_386,
	"riscv64": elf.EM_RISCV,
	"ppc64le": elf.EM_PPC64,
	"s390x":   elf.EM_S390,
}

// CheckProgram reports, wrapped in ErrNotExecutable, why r cannot run in a vat: a vat's root
// holds nothing but the program, so it must be an ELF executable for this machine that needs no
// interpreter (no dynamic loader, no shell).
func CheckProgram(r io.ReaderAt) error {
	f, err := elf.NewFile(r)
	if err != nil {
		return fmt.Errorf("%w: not an ELF executable (%v)", ErrNotExecutable, err)
	}
	defer f.Close()
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return fmt.Errorf("%w: ELF type %v is not an executable", ErrNotExecutable, f.Type)
	}
	if want, ok := machines[runtime.GOARCH]; ok && f.Machine != want {
		return fmt.Errorf("%w: built for %v, this machine is %v", ErrNotExecutable, f.Machine, want)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%w: dynamically linked (needs an interpreter); a vat's root holds "+
				"only the program: build it static (for Go: CGO_ENABLED=0)", ErrNotExecutable)
		}
	}
	return nil
}
