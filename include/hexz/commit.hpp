// Folding a writable qcow2 overlay back into a thin snapshot over its base.
#pragma once

#include <string>

#include "hexz/pack.hpp"

namespace hexz {

/// Writes options.output_path: a thin snapshot over options.base_path (required) whose disk
/// stream is what the overlay image `overlay_path` shows over that base, typically a qcow2
/// created with `qemu-img create -f qcow2 -b nbd+unix:///?socket=S -F raw` over the base's
/// nbdkit export. The overlay is read by a private qemu-nbd WITHOUT its backing file (so the
/// base's export need not run), and only its own clusters (qemu:allocation-depth) are read from
/// it; every other range is read from the base snapshot, and dedups against it. The chunking
/// follows the base's; options.disk_path and memory_path must be empty (the result has a disk
/// stream only). An encrypted base needs options.encrypt (and its password: options.password,
/// or options.base_password if it differs): the result is an encrypted thin snapshot; an
/// unencrypted base refuses encrypt. Throws hexz::Error (kInvalidArgument for a mixed chain,
/// kUnsupported for an overlay format qemu-nbd does not read); on failure no output is left.
PackResult commit_overlay(const std::string& overlay_path, const PackOptions& options,
                          const ProgressFn& progress = {});

}  // namespace hexz
