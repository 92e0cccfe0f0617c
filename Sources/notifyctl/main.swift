// notifyctl: the notify command-line client. Filled in by the client work.
print("notifyctl")
