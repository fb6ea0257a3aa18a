package window

import "fmt"

func errRoom(room int) error {
	return fmt.Errorf("the MTU leaves %d bytes under the layers below; window control messages need %d", room, controlHeader+8*minRanges)
}
