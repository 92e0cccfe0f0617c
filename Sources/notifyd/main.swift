// notifyd: the notify service executable. Filled in by the server work.
print("notifyd")
