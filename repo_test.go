package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// maxTrackedSize bounds every tracked file but the model's and the golden
// files: anything bigger is a build output or a data dump, and one large
// binary gets a whole submission refused.
const maxTrackedSize = 1 << 20

// tracked is one file as git has it.
type tracked struct {
	path string
	mode string // git's: 100644, 100755, 120000
	head []byte // the first bytes of its content
	size int64
}

// binaryMagic opens executables and object files of every platform Go
// builds for.
var binaryMagic = [][]byte{
	[]byte("\x7fELF"),                                  // Linux, BSD
	{0xcf, 0xfa, 0xed, 0xfe}, {0xce, 0xfa, 0xed, 0xfe}, // Mach-O
	[]byte("MZ"),        // Windows PE
	[]byte("\x00asm"),   // WebAssembly
	[]byte("!<arch>\n"), // archives (.a)
}

// problems lists what must not be tracked: executable binaries anywhere,
// executables that are not scripts, and files over maxTrackedSize outside
// the model and golden folders.
func problems(files []tracked) []string {
	var out []string
	for _, f := range files {
		for _, magic := range binaryMagic {
			if bytes.HasPrefix(f.head, magic) {
				out = append(out, fmt.Sprintf("%s is a compiled binary (%d bytes): git rm --cached it; build outputs go to bin/", f.path, f.size))
				break
			}
		}
		if f.mode == "100755" && !bytes.HasPrefix(f.head, []byte("#!")) {
			out = append(out, fmt.Sprintf("%s is executable but not a script", f.path))
		}
		large := strings.HasPrefix(f.path, "apps/fraud/model/") || (path.Base(path.Dir(f.path)) == "testdata" && strings.HasSuffix(f.path, ".golden"))
		if f.size > maxTrackedSize && !large {
			out = append(out, fmt.Sprintf("%s is %d bytes, over %d outside the model and golden folders", f.path, f.size, maxTrackedSize))
		}
	}
	return out
}

func TestProblemsOfTrackedFiles(t *testing.T) {
	files := []tracked{
		{path: "model-fetch", mode: "100755", head: []byte("\x7fELF\x02\x01\x01"), size: 15 << 20},
		{path: "tools/built.exe", mode: "100644", head: []byte("MZ\x90\x00"), size: 4096},
		{path: "scripts/test.sh", mode: "100755", head: []byte("#!/usr/bin/env bash\n"), size: 900},
		{path: "scripts/run", mode: "100755", head: []byte("echo hi\n"), size: 8},
		{path: "data/dump.json", mode: "100644", head: []byte("{"), size: 2 << 20},
		{path: "apps/fraud/model/model.json", mode: "100644", head: []byte("{"), size: 3 << 20},
		{path: "infra/testdata/dev.golden", mode: "100644", head: []byte("["), size: 2 << 20},
		{path: "infra/testdata/big.json", mode: "100644", head: []byte("["), size: 2 << 20},
		{path: "main.go", mode: "100644", head: []byte("// Command"), size: 400},
	}
	got := strings.Join(problems(files), "\n")
	for _, want := range []string{"model-fetch is a compiled binary", "model-fetch is 15728640 bytes", "tools/built.exe is a compiled binary",
		"scripts/run is executable but not a script", "data/dump.json is 2097152 bytes", "infra/testdata/big.json is 2097152 bytes"} {
		require.Contains(t, got, want)
	}
	for _, ok := range []string{"scripts/test.sh", "model.json", "dev.golden", "main.go"} {
		require.NotContains(t, got, ok)
	}
}

// TestRepositoryHoldsNoBuildOutputs checks every file git tracks (and would
// commit, from the index) with problems.
func TestRepositoryHoldsNoBuildOutputs(t *testing.T) {
	out, err := exec.Command("git", "ls-files", "-z", "--stage").Output()
	if err != nil {
		if os.Getenv("INTELLIFLOW_REQUIRE_SERVICES") != "" {
			t.Fatalf("git ls-files: %v (make test runs in a git checkout)", err)
		}
		t.Skipf("not a git checkout: %v", err)
	}
	var files []tracked
	var objects []string
	for _, entry := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		// <mode> <object> <stage>\t<path>
		meta, name, _ := strings.Cut(entry, "\t")
		fields := strings.Fields(meta)
		if len(fields) != 3 || fields[0] == "160000" { // submodules have no content here
			continue
		}
		files = append(files, tracked{path: name, mode: fields[0]})
		objects = append(objects, fields[1])
	}
	// One git process reads every blob: "<object> blob <size>\n<content>\n".
	cat := exec.Command("git", "cat-file", "--batch")
	cat.Stdin = strings.NewReader(strings.Join(objects, "\n") + "\n")
	blobs, err := cat.Output()
	require.NoError(t, err)
	r := bufio.NewReader(bytes.NewReader(blobs))
	for i := range files {
		header, err := r.ReadString('\n')
		require.NoError(t, err)
		var oid, typ string
		_, err = fmt.Sscan(header, &oid, &typ, &files[i].size)
		require.NoError(t, err, "%s: %q", files[i].path, header)
		content := make([]byte, files[i].size+1)
		_, err = io.ReadFull(r, content)
		require.NoError(t, err)
		files[i].head = content[:min(files[i].size, 16)]
	}
	require.NotEmpty(t, files)
	require.Empty(t, problems(files), "tracked files that are build outputs or too large")
	t.Logf("%d tracked files checked", len(files))
}

// TestREADMENamesRealPaths: every repository path the README quotes (in
// backticks, commands included) exists, so a reader paging through at 3 a.m.
// never looks for a package that is not there. Build outputs (bin/, out/,
// .cluster/) and placeholders (<service>) are left out.
func TestREADMENamesRealPaths(t *testing.T) {
	b, err := os.ReadFile("README.md")
	require.NoError(t, err)
	roots := regexp.MustCompile(`^(apps|cmd|components|internal|policy|stacks|infra|scripts|tools|ci-cd)/`)
	// Code blocks are quoted whole; in prose, the backticked spans.
	var quoted []string
	for i, part := range strings.Split(string(b), "```") {
		if i%2 == 1 {
			quoted = append(quoted, part)
			continue
		}
		for _, span := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(part, -1) {
			quoted = append(quoted, span[1])
		}
	}
	seen := 0
	for _, q := range quoted {
		for _, tok := range strings.Fields(q) {
			tok = strings.TrimPrefix(strings.TrimRight(tok, ".,:;)"), "./")
			if !roots.MatchString(tok) || strings.ContainsAny(tok, "<>{}$") {
				continue
			}
			matches, err := filepath.Glob(strings.TrimSuffix(tok, "/..."))
			require.NoError(t, err, tok)
			require.NotEmpty(t, matches, "README.md names %s, which is not in the repository", tok)
			seen++
		}
	}
	require.Greater(t, seen, 20)
	t.Logf("%d path references checked", seen)
}
