package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Where the CPU goes: on two cores a saturated run's throughput is set by
// the CPU each unit of work costs, summed over every process, so the
// breakdowns put certfleet's cost per device or enrollment beside the
// floor's, process by process. Read from /proc: each process the
// benchmark starts leads its own process group (its children, such as
// make cluster's services, included), Postgres is every process called
// postgres, and the benchmark itself runs the floor's worker and the
// EST callers.

// cpuSample is the CPU seconds (user and system) each part has used so far.
type cpuSample map[string]float64

// userHz is the unit of /proc/<pid>/stat's times, fixed at 100 on Linux.
const userHz = 100

// sampleCPU reads every process's CPU time and adds it to its part.
func (s *stack) sampleCPU() cpuSample {
	groups := map[int]string{os.Getpid(): "bench"}
	for _, p := range append([]*process{s.temporalProc, s.certfleet}, s.processes...) {
		if p != nil && p.cmd.Process != nil {
			groups[p.cmd.Process.Pid] = p.name
		}
	}
	sample := cpuSample{}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, path := range stats {
		pid, comm, pgrp, seconds, ok := readStat(path)
		switch {
		case !ok:
		case pid == os.Getpid():
			sample["bench"] += seconds
		case comm == "postgres":
			sample["postgres"] += seconds
		case groups[pgrp] != "" && pgrp != os.Getpid():
			sample[groups[pgrp]] += seconds
		}
	}
	return sample
}

// readStat parses the fields of /proc/<pid>/stat a sample needs; ok is
// false for a process gone meanwhile.
func readStat(path string) (pid int, comm string, pgrp int, seconds float64, ok bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, "", 0, 0, false
	}
	// comm is in parentheses and may hold spaces; the fields after it are
	// numbered from 3 (state): pgrp is 5, utime 14 and stime 15.
	text := string(data)
	open, closing := strings.IndexByte(text, '('), strings.LastIndexByte(text, ')')
	if open < 0 || closing < open {
		return 0, "", 0, 0, false
	}
	fields := strings.Fields(text[closing+1:])
	if len(fields) < 13 {
		return 0, "", 0, 0, false
	}
	pid, _ = strconv.Atoi(strings.TrimSpace(text[:open]))
	pgrp, _ = strconv.Atoi(fields[2])
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return pid, text[open+1 : closing], pgrp, (utime + stime) / userHz, true
}

// perUnit is the milliseconds of CPU each part used between before and
// after, divided over units (devices, enrollments).
func (after cpuSample) perUnit(before cpuSample, units int) map[string]float64 {
	out := map[string]float64{}
	if units <= 0 {
		return out
	}
	for part, seconds := range after {
		if used := seconds - before[part]; used > 0 {
			out[part] = 1000 * used / float64(units)
		}
	}
	return out
}
