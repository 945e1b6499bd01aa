/* td.h: the umbrella header of libtd, Tandem's pure protocol library. */
#ifndef TD_H
#define TD_H

#include "td_connfile.h"
#include "td_error.h"
#include "td_hmac.h"
#include "td_msg.h"
#include "td_sha.h"
#include "td_stamp.h"
#include "td_types.h"
#include "td_wire.h"

#endif
