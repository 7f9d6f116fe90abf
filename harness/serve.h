/* `vtbench serve`: one of vtbench's device models as a vhost-user backend. */
#ifndef VTB_SERVE_H
#define VTB_SERVE_H

int vtb_cmd_serve(int argc, char **argv);

#endif
