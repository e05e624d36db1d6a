# SPDX-License-Identifier: GPL-2.0
# IOMMU Live Update for Linux: the patch series and the tooling around it.
# See README.md. Everything generated goes to build/.

SHELL := /bin/bash
S := scripts

MODE ?= legacy
AW ?= 39
T ?= edu-dma

.PHONY: all deps base tree export kernel configs initramfs test kunit check demo bench clean help

all: help

help:
	@echo "make demo     install what is missing, build, boot, and live-update the host"
	@echo "              kernel twice under an assigned edu doing DMA (lu-vmm: the"
	@echo "              VMM's flow), with what survived and the time of each phase"
	@echo "make check    the whole test suite (ends with 'N passed, N failed')"
	@echo "make bench    what a live update costs the IOMMU, for guests of 16 MiB"
	@echo "              to 2 GiB and up to 65536 areas, on a kernel without"
	@echo "              debugging: a table, build/bench/bench.csv and plots"
	@echo "make deps     install Debian packages and fetch the base"
	@echo "make base     fetch and verify the base (Debian's linux-source-7.3)"
	@echo "make tree     materialize build/linux: base + patches/ (git am)"
	@echo "make export   write build/linux base..HEAD back to patches/ (and the"
	@echo "              cover letter's shortlog and diffstat)"
	@echo "make kernel   build the test kernel (build/kobj)"
	@echo "make configs  build the tree with the live-update options off and with"
	@echo "              iommufd and VFIO as modules, warnings as errors"
	@echo "              (build/kobj-off, build/kobj-modules; a step of make check)"
	@echo "make initramfs  build the guest's initramfs (test programs, kselftests)"
	@echo "make test T=name MODE=legacy|sm|sm-fl AW=39|48"
	@echo "              one guest test of tests.list in one VT-d mode"
	@echo "make kunit    the IOMMU KUnit suites with kunit.py (x86_64, QEMU)"
	@echo "make clean    remove what the builds and tests made (not the tree)"

deps:
	@$(S)/deps.sh

base:
	@$(S)/fetch-base.sh

tree: base
	@$(S)/tree.sh

export:
	@$(S)/export.sh

build/linux/.git:
	@$(S)/tree.sh

kernel: build/linux/.git
	@$(S)/build-kernel.sh

configs: build/linux/.git
	@$(S)/build-configs.sh

initramfs: kernel
	@$(S)/mkinitramfs.sh

test: initramfs
	@$(S)/run-test.sh $(T) $(MODE) $(AW)

kunit: build/linux/.git
	@$(S)/kunit.sh

check: deps
	@$(S)/check.sh

demo: deps
	@$(S)/demo.sh

bench: deps
	@$(S)/bench.sh

clean:
	rm -rf build/kobj build/kobj-off build/kobj-modules build/docs build/kunit-x86 build/logs build/initramfs.cpio build/bench
