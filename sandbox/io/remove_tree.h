// Removes a directory tree that a job wrote, whatever it made of it: any depth (iterative, with at
// most three descriptors open however deep it goes), any modes (directories are made searchable
// and writable first), and never following a symlink out of it.
#pragma once

#include <string>

namespace gaol::io {

// Removes `name` beneath the directory `parent` (a descriptor), and everything in it. Returns
// false when something could not be removed (the rest still is).
bool RemoveTreeAt(int parent, const std::string& name);

}  // namespace gaol::io
