"""Pure transform ops: parameters are passed in, nothing is random here."""
