// Tests come next.
