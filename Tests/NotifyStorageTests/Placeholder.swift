// NotifyStorageTests: placeholder until its first test lands.
