"""Default forget / retain / proxy class lists per dataset.

ImageNet: the 200 ImageNet-R classes sorted by wnid, first 100 forget and last 100 retain, exactly as
the released MAGE unlearning code (``datacsv/img_r_folder_dict.yaml``; protocol reference Sec. 6.1).
Embedded clip-art: our choice of 3 forget, 6 retain and 3 proxy classes.
"""

IMAGENET_FORGET = """
n01443537 n01484850 n01494475 n01498041 n01514859 n01518878 n01531178 n01534433 n01614925 n01616318
n01630670 n01632777 n01644373 n01677366 n01694178 n01748264 n01770393 n01774750 n01784675 n01806143 n01820546
n01833805 n01843383 n01847000 n01855672 n01860187 n01882714 n01910747 n01944390 n01983481 n01986214 n02007558
n02009912 n02051845 n02056570 n02066245 n02071294 n02077923 n02085620 n02086240 n02088094 n02088238 n02088364
n02088466 n02091032 n02091134 n02092339 n02094433 n02096585 n02097298 n02098286 n02099601 n02099712 n02102318
n02106030 n02106166 n02106550 n02106662 n02108089 n02108915 n02109525 n02110185 n02110341 n02110958 n02112018
n02112137 n02113023 n02113624 n02113799 n02114367 n02117135 n02119022 n02123045 n02128385 n02128757 n02129165
n02129604 n02130308 n02134084 n02138441 n02165456 n02190166 n02206856 n02219486 n02226429 n02233338 n02236044
n02268443 n02279972 n02317335 n02325366 n02346627 n02356798 n02363005 n02364673 n02391049 n02395406 n02398521
n02410509 n02423022
""".split()

IMAGENET_RETAIN = """
n02437616 n02445715 n02447366 n02480495 n02480855 n02481823 n02483362 n02486410 n02510455 n02526121
n02607072 n02655020 n02672831 n02701002 n02749479 n02769748 n02793495 n02797295 n02802426 n02808440 n02814860
n02823750 n02841315 n02843684 n02883205 n02906734 n02909870 n02939185 n02948072 n02950826 n02951358 n02966193
n02980441 n02992529 n03124170 n03272010 n03345487 n03372029 n03424325 n03452741 n03467068 n03481172 n03494278
n03495258 n03498962 n03594945 n03602883 n03630383 n03649909 n03676483 n03710193 n03773504 n03775071 n03888257
n03930630 n03947888 n04086273 n04118538 n04133789 n04141076 n04146614 n04147183 n04192698 n04254680 n04266014
n04275548 n04310018 n04325704 n04347754 n04389033 n04409515 n04465501 n04487394 n04522168 n04536866 n04552348
n04591713 n07614500 n07693725 n07695742 n07697313 n07697537 n07714571 n07714990 n07718472 n07720875 n07734744
n07742313 n07745940 n07749582 n07753275 n07753592 n07768694 n07873807 n07880968 n07920052 n09472597 n09835506
n10565667 n12267677
""".split()

CLIPART_FORGET = ["animals", "food", "people"]
CLIPART_RETAIN = ["computer", "office", "recreation", "signs_and_symbols", "tools", "transportation"]
CLIPART_PROXY = ["geography", "plants", "shapes"]

# Fashion-MNIST (profile "fashion"): its labels in order, 3 forget / 4 retain / 3 proxy as the clip-art's
# 3 / 6 / 3, by label order rather than by hand, so that no choice of classes favours the claim.
FASHION_FORGET = ["T-shirt/top", "Trouser", "Pullover"]
FASHION_RETAIN = ["Dress", "Coat", "Sandal", "Shirt"]
FASHION_PROXY = ["Sneaker", "Bag", "Ankle boot"]

# Places365 (the i2i Palette code's datasets/place365/flist/class.txt @ b466fda, protocol reference
# Sec. 6.2): its first 49 lines are outdoor classes = retain (the protocol's "lines 1-50" counts one
# too many), the next 50 indoor = forget; the other 266 classes are the proxy pool.
PLACES_RETAIN = """
badlands bamboo_forest barn beach canyon coast corn_field creek dam desert/sand desert/vegetation field/wild
field_road forest/broadleaf forest_path forest_road golf_course hayfield highway hot_spring iceberg islet lagoon
lake/natural lawn marsh mountain mountain_path mountain_snowy oast_house ocean orchard pasture rainforest river
rock_arch sky snowfield swamp tree_farm tundra valley vegetable_garden volcano waterfall watering_hole wave
wheat_field wind_farm
""".split()

PLACES_FORGET = """
airplane_cabin archive art_gallery art_studio attic auditorium auto_factory auto_showroom bakery/shop ball_pit
ballroom banquet_hall bar basketball_court/indoor bathroom beauty_salon bedchamber bedroom berth
biology_laboratory bowling_alley boxing_ring burial_chamber butchers_shop cockpit computer_room discotheque
dorm_room dressing_room general_store/indoor gift_shop hardware_store home_theater ice_cream_parlor
kindergarden_classroom kitchen library/indoor market/indoor museum/indoor parking_garage/indoor pizzeria
reception restaurant_kitchen restaurant_patio server_room shopping_mall/indoor storage_room supermarket sushi_bar
youth_hostel
""".split()
