// Umbrella header: the whole public hexz API.
#pragma once

#include "hexz/commit.hpp"
#include "hexz/diff.hpp"
#include "hexz/error.hpp"
#include "hexz/flatten.hpp"
#include "hexz/memory.hpp"
#include "hexz/pack.hpp"
#include "hexz/signing.hpp"
#include "hexz/snapshot.hpp"
#include "hexz/trace.hpp"
#include "hexz/types.hpp"
#include "hexz/version.hpp"
